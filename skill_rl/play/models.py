"""Play-LMP and Play-GCBC networks (torch): plan recognition, plan proposal, goal-conditioned policy.

Lynch et al., "Learning Latent Plans from Play" (CoRL 2019), state-based version:

* :class:`PlanRecognition` Φ(z | τ): a bidirectional GRU over a window τ = (s_t, a_t)_{t<T} -> diagonal
  Gaussian over the latent plan z (used only in training).
* :class:`PlanProposal` Ψ(z | s_0, s_g): an MLP on (first state, goal state) -> diagonal Gaussian over z.
* :class:`GoalConditionedPolicy` π(a_t | s_t, s_g, z): an MLP with a multimodal action head over actions in
  [-1, 1]: a discretised mixture of logistics (PixelCNN++ / CALVIN: ``head="logistic"``) or a Gaussian
  mixture (``head="gaussian"``), one K-component mixture per action dimension.
* :class:`PlayLMP`: loss = action NLL (summed over action dims, mean over real window steps)
  + β · KL(Φ || Ψ) (mean over the batch). :class:`PlayGCBC`: the same policy without a latent (z dim 0).

Observations enter every network raw (the env's flat observation: metres, radians, ... as the env's
``obs_layout`` says) and are normalised inside by ``(obs - obs_mean) / obs_std`` buffers that travel with
the weights, so a deployed policy takes what the env gives. Actions are the env's normalised commands in
[-1, 1] (values outside are clamped for the NLL).

The networks, heads, normaliser and β-NLL are the imitation core's (:mod:`skill_rl.imitation`), shared
with lifelong BC and the per-task / multi-task BC policies; this module assembles them into Play-LMP and
Play-GCBC. The deployable part (normaliser + proposal + policy) is :class:`PlanActor`; the trainer adds the
recognition network. :mod:`skill_rl.play.policy` wraps a :class:`PlanActor` for acting and save/load.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.distributions import Independent, kl_divergence

from skill_rl.imitation.heads import ActionHead, GaussianMixtureHead, LogisticMixtureHead, beta_nll
from skill_rl.imitation.heads import make_head as core_make_head
from skill_rl.imitation.latent import PlanProposal, PlanRecognition, diag_gaussian
from skill_rl.imitation.nets import Normaliser, PolicyNet, mlp, rename_legacy_keys
from skill_rl.imitation.policy import checked_index

__all__ = [
    "ActorConfig", "GaussianMixtureHead", "GoalConditionedPolicy", "LogisticMixtureHead", "LossOut", "PlanActor",
    "PlanProposal", "PlanRecognition", "PlayBatch", "PlayGCBC", "PlayLMP", "action_nll", "diag_gaussian", "make_head",
    "mlp",
]

# The play configs' head names -> the core's heads (play's "gaussian" is a Gaussian mixture per action dim).
PLAY_HEADS = {"logistic": "logistic", "gaussian": "gaussian_mixture"}


class PlayBatch(NamedTuple):
    """A batch of hindsight-relabelled play windows (torch tensors).

    obs: (B, T, D) float32 raw observations; actions: (B, T, A) float32 in [-1, 1], the action taken after
    ``obs[:, t]``; goal: (B, D) float32 raw observation at the goal step; mask: (B, T) bool, True on real
    steps (real steps first, padding after, as :class:`~skill_rl.play.windows.WindowSampler` makes them).
    """

    obs: torch.Tensor
    actions: torch.Tensor
    goal: torch.Tensor
    mask: torch.Tensor

    @classmethod
    def from_numpy(cls, obs, actions, goal, mask, device: str | torch.device = "cpu") -> PlayBatch:
        return cls(torch.as_tensor(obs, dtype=torch.float32, device=device),
                   torch.as_tensor(actions, dtype=torch.float32, device=device),
                   torch.as_tensor(goal, dtype=torch.float32, device=device),
                   torch.as_tensor(mask, dtype=torch.bool, device=device))


class LossOut(NamedTuple):
    """Scalar tensors: total = nll + beta * kl; kl is 0 for GCBC."""

    total: torch.Tensor
    nll: torch.Tensor
    kl: torch.Tensor


def make_head(kind: str, in_dim: int, act_dim: int, n_mix: int, n_bins: int) -> ActionHead:
    """A play action head: ``logistic`` or ``gaussian`` (a Gaussian mixture per action dim)."""
    if kind not in PLAY_HEADS:
        raise ValueError(f"unknown action head {kind!r}; available: {', '.join(sorted(PLAY_HEADS))}")
    return core_make_head(PLAY_HEADS[kind], in_dim, act_dim, n_mix=n_mix, n_bins=n_bins)


class GoalConditionedPolicy(PolicyNet):
    """π(a | s, s_g, z): the core's MLP trunk + head on (obs, goal, z) (normalised, (..., D), (..., G), (..., Z)).

    ``latent_dim=0`` gives the Play-GCBC policy π(a | s, s_g). Params are those of the head (see
    :class:`~skill_rl.imitation.heads.LogisticMixtureHead`); ``log_prob``/``sample``/``mode`` delegate to it.
    """

    def __init__(self, obs_dim: int, act_dim: int, latent_dim: int = 0, hidden: int = 256, layers: int = 2,
                 head: str = "logistic", n_mix: int = 5, n_bins: int = 256, goal_dim: int | None = None) -> None:
        if head not in PLAY_HEADS:
            raise ValueError(f"unknown action head {head!r}; available: {', '.join(sorted(PLAY_HEADS))}")
        in_dim = obs_dim + (obs_dim if goal_dim is None else goal_dim) + latent_dim
        super().__init__(in_dim, act_dim, hidden, layers, PLAY_HEADS[head], n_mix, n_bins)
        self.latent_dim = latent_dim

    def forward(self, obs: torch.Tensor, goal: torch.Tensor, z: torch.Tensor | None = None):  # type: ignore[override]
        if z is None or self.latent_dim == 0:
            return super().forward(obs, goal)
        return super().forward(obs, goal, z)

    def log_prob_dims(self, params, actions: torch.Tensor) -> torch.Tensor:
        """log p per action dim (..., A) (the play heads factorise over dims)."""
        return self.head.log_prob_terms(params, actions)


@dataclass
class ActorConfig:
    """Sizes of the deployable part; saved as JSON next to the weights. ``latent_dim=0`` means GCBC.

    ``goal_index``: which observation features the goal is made of (indices into the (D,) observation, e.g.
    the objects' poses and the drawer opening but not the robot's joints); None = the whole observation.
    Callers always pass whole goal observations; the actor selects these features itself.
    ``goal_delta``: also feed the goal features' difference to the current observation's (normalised
    goal - obs on those features: which object should move where), so the goal input is 2G wide.
    ``ignore_index``: observation features the proposal and the policy never see (zero after normalisation,
    in the obs and in the goal), e.g. the joint velocities: a policy that sees its own velocity learns to
    continue its current motion (the "copycat" shortcut of imitation) and stalls where it starts at rest.
    """

    obs_dim: int
    act_dim: int
    latent_dim: int = 16
    hidden: int = 256
    layers: int = 2
    head: str = "logistic"
    n_mix: int = 5
    n_bins: int = 256
    goal_index: list[int] | None = None
    goal_delta: bool = False
    ignore_index: list[int] | None = None

    def __post_init__(self) -> None:
        if self.goal_index is not None:
            self.goal_index = checked_index("goal_index", self.goal_index, self.obs_dim, allow_empty=False)
        if self.ignore_index is not None:
            self.ignore_index = checked_index("ignore_index", self.ignore_index, self.obs_dim, allow_empty=True)

    @property
    def goal_dim(self) -> int:
        """Width of the goal input of the proposal and the policy."""
        return (self.obs_dim if self.goal_index is None else len(self.goal_index)) * (2 if self.goal_delta else 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PlanActor(nn.Module):
    """Observation normaliser + plan proposal (absent for GCBC) + goal-conditioned policy.

    Buffers ``obs_mean``/``obs_std`` (D,) are in the raw observation's units; every method here takes raw
    observations.
    """

    def __init__(self, cfg: ActorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.norm = Normaliser(cfg.obs_dim, cfg.ignore_index)
        index = range(cfg.obs_dim) if cfg.goal_index is None else cfg.goal_index
        self.register_buffer("goal_idx", torch.as_tensor(list(index), dtype=torch.long), persistent=False)
        self.proposal = (PlanProposal(cfg.obs_dim, cfg.latent_dim, cfg.hidden, cfg.layers, cfg.goal_dim)
                         if cfg.latent_dim else None)
        self.policy = GoalConditionedPolicy(cfg.obs_dim, cfg.act_dim, cfg.latent_dim, cfg.hidden, cfg.layers,
                                            cfg.head, cfg.n_mix, cfg.n_bins, cfg.goal_dim)
        # policy files written before the core existed kept the normaliser's buffers on the actor
        rename_legacy_keys(self, {"obs_mean": "norm.mean", "obs_std": "norm.std"})

    @property
    def obs_mean(self) -> torch.Tensor:
        return self.norm.mean

    @property
    def obs_std(self) -> torch.Tensor:
        return self.norm.std

    @property
    def obs_keep(self) -> torch.Tensor:
        return self.norm.keep

    def set_normaliser(self, mean, std) -> None:
        """Set the obs statistics ((D,) each); stds below 1e-6 are raised to 1 (constant features)."""
        self.norm.set_stats(mean, std)

    def normalise(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw -> normalised observation, with the ``cfg.ignore_index`` features zeroed."""
        return self.norm(obs)

    def goal_input(self, obs_n: torch.Tensor, goal_n: torch.Tensor) -> torch.Tensor:
        """Normalised (..., D) obs and goal observation -> the goal input (..., ``cfg.goal_dim``): the goal
        features (``cfg.goal_index``), and with ``cfg.goal_delta`` their difference to the obs's."""
        if self.cfg.goal_index is not None:
            goal_n = goal_n.index_select(-1, self.goal_idx)
        if not self.cfg.goal_delta:
            return goal_n
        here = obs_n if self.cfg.goal_index is None else obs_n.index_select(-1, self.goal_idx)
        return torch.cat([goal_n, goal_n - here], dim=-1)

    def propose(self, obs: torch.Tensor, goal: torch.Tensor) -> Independent | None:
        """Ψ(z | s, s_g) for raw (B, D) obs and goal; None for GCBC."""
        if self.proposal is None:
            return None
        o = self.normalise(obs)
        return self.proposal(o, self.goal_input(o, self.normalise(goal)))

    def action_params(self, obs: torch.Tensor, goal: torch.Tensor, z: torch.Tensor | None):
        o = self.normalise(obs)
        return self.policy(o, self.goal_input(o, self.normalise(goal)), z)


# ------------------------------------------------------------------------------------------------ learners
class PlayLMP(nn.Module):
    """Play-LMP for training: :class:`PlanActor` (proposal + policy) plus :class:`PlanRecognition`.

    ``loss(batch, beta)``: z ~ Φ(z | τ) (reparameterised) for each window, shared by all its steps; NLL of
    the window's actions under π(a_t | s_t, s_g, z) averaged over real steps (summed over action dims, nats);
    KL(Φ(·|τ) || Ψ(·|s_0, s_g)) averaged over the batch (nats). ``nll_beta`` > 0 trains on the β-NLL
    (see :func:`action_nll`); the reported ``nll`` is always the plain one.
    """

    def __init__(self, cfg: ActorConfig, rnn_hidden: int = 128, nll_beta: float = 0.0) -> None:
        super().__init__()
        if cfg.latent_dim <= 0:
            raise ValueError("PlayLMP needs latent_dim > 0 (use PlayGCBC for no latent)")
        self.actor = PlanActor(cfg)
        self.recognition = PlanRecognition(cfg.obs_dim, cfg.act_dim, cfg.latent_dim, rnn_hidden)
        self.nll_beta = float(nll_beta)

    def loss(self, batch: PlayBatch, beta: float = 0.01) -> LossOut:
        obs = self.actor.normalise(batch.obs)
        goal = self.actor.normalise(batch.goal)
        q = self.recognition(obs, batch.actions, batch.mask)
        p = self.actor.proposal(obs[:, 0], self.actor.goal_input(obs[:, 0], goal))
        kl = kl_divergence(q, p).mean()
        z = q.rsample()
        T = obs.shape[1]
        goal_in = self.actor.goal_input(obs, goal.unsqueeze(1).expand(-1, T, -1))
        params = self.actor.policy(obs, goal_in, z.unsqueeze(1).expand(-1, T, -1))
        nll, train_nll = action_nll(self.actor.policy, params, batch.actions, batch.mask, self.nll_beta)
        return LossOut(train_nll + beta * kl, nll, kl)


class PlayGCBC(nn.Module):
    """Play-GCBC: the same policy on the same relabelled windows, no latent plan (KL is 0)."""

    def __init__(self, cfg: ActorConfig, nll_beta: float = 0.0) -> None:
        super().__init__()
        if cfg.latent_dim != 0:
            cfg = ActorConfig(**{**cfg.to_dict(), "latent_dim": 0})
        self.actor = PlanActor(cfg)
        self.nll_beta = float(nll_beta)

    def loss(self, batch: PlayBatch, beta: float = 0.0) -> LossOut:
        obs = self.actor.normalise(batch.obs)
        goal = self.actor.normalise(batch.goal)
        T = obs.shape[1]
        params = self.actor.policy(obs, self.actor.goal_input(obs, goal.unsqueeze(1).expand(-1, T, -1)), None)
        nll, train_nll = action_nll(self.actor.policy, params, batch.actions, batch.mask, self.nll_beta)
        return LossOut(train_nll, nll, nll.new_zeros(()))


def action_nll(policy: GoalConditionedPolicy, params, actions: torch.Tensor, mask: torch.Tensor,
               nll_beta: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(plain NLL, training NLL) of ``actions`` (B, T, A) over the real steps of ``mask`` (B, T): the core's
    :func:`~skill_rl.imitation.heads.beta_nll` (β-NLL with ``nll_beta`` > 0, plain NLL at 0)."""
    return beta_nll(policy.head, params, actions, mask, nll_beta)
