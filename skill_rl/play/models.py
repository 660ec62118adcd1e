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

The deployable part (normaliser + proposal + policy) is :class:`PlanActor`; the trainer adds the
recognition network. :mod:`skill_rl.play.policy` wraps a :class:`PlanActor` for acting and save/load.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Independent, Normal, kl_divergence

__all__ = [
    "ActorConfig", "GaussianMixtureHead", "GoalConditionedPolicy", "LogisticMixtureHead", "LossOut", "PlanActor",
    "PlanProposal", "PlanRecognition", "PlayBatch", "PlayGCBC", "PlayLMP", "action_nll", "make_head",
]

_LOG_SCALE_MIN = -7.0
_STD_MIN = 1e-4


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


def mlp(in_dim: int, hidden: int, layers: int, out_dim: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    d = in_dim
    for _ in range(layers):
        mods += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    mods.append(nn.Linear(d, out_dim))
    return nn.Sequential(*mods)


def diag_gaussian(params: torch.Tensor) -> Independent:
    """(..., 2Z) -> Independent(Normal(mean, std), 1) with std = softplus(raw) + 1e-4."""
    mean, raw = params.chunk(2, dim=-1)
    return Independent(Normal(mean, F.softplus(raw) + _STD_MIN), 1)


# ------------------------------------------------------------------------------------------ action heads
class _MixtureHead(nn.Module):
    """What both heads share: params (logits, means, log_scales), each (..., A, K), one mixture per dim."""

    def log_prob_dims(self, params, actions: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, params, actions: torch.Tensor) -> torch.Tensor:
        """log p(actions) (...,), summed over action dims; actions (..., A)."""
        return self.log_prob_dims(params, actions).sum(-1)

    def mode(self, params) -> torch.Tensor:
        """The mean of each dimension's most probable component, (..., A)."""
        logits, means, _ = params
        return means.gather(-1, logits.argmax(-1, keepdim=True)).squeeze(-1).clamp(-1.0, 1.0)


class LogisticMixtureHead(_MixtureHead):
    """Discretised mixture of logistics per action dimension (PixelCNN++; CALVIN's Play-LMP decoder).

    Each action dim a_i in [-1, 1] is quantised into ``n_bins`` bins of width 2 / (n_bins - 1) centred on
    the grid; bin probabilities are logistic CDF differences, the edge bins take the tails. ``forward``
    maps features (..., H) to params (logits, means, log_scales), each (..., A, K).
    """

    def __init__(self, in_dim: int, act_dim: int, n_mix: int = 5, n_bins: int = 256) -> None:
        super().__init__()
        self.act_dim, self.n_mix, self.n_bins = act_dim, n_mix, n_bins
        self.proj = nn.Linear(in_dim, 3 * act_dim * n_mix)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.proj(h).view(*h.shape[:-1], self.act_dim, 3 * self.n_mix)
        logits, means, log_scales = out.split(self.n_mix, dim=-1)
        return logits, torch.tanh(means), log_scales.clamp(min=_LOG_SCALE_MIN)

    def log_prob_dims(self, params, actions: torch.Tensor) -> torch.Tensor:
        """log p(actions) per action dim (..., A); actions (..., A)."""
        logits, means, log_scales = params
        x = actions.clamp(-1.0, 1.0).unsqueeze(-1)  # (..., A, 1)
        half = 1.0 / (self.n_bins - 1)
        inv_s = torch.exp(-log_scales)
        centred = x - means
        plus_in = inv_s * (centred + half)
        min_in = inv_s * (centred - half)
        log_cdf_plus = plus_in - F.softplus(plus_in)  # log sigmoid(plus_in), for the bottom bin
        log_one_minus_cdf_min = -F.softplus(min_in)  # log(1 - sigmoid(min_in)), for the top bin
        cdf_delta = torch.sigmoid(plus_in) - torch.sigmoid(min_in)
        mid_in = inv_s * centred
        log_pdf_mid = mid_in - log_scales - 2.0 * F.softplus(mid_in)  # fallback when the delta underflows
        log_mid = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp(min=1e-12)),
                              log_pdf_mid - math.log((self.n_bins - 1) / 2))
        edge = 1.0 - 1e-3
        log_probs = torch.where(x < -edge, log_cdf_plus, torch.where(x > edge, log_one_minus_cdf_min, log_mid))
        return torch.logsumexp(log_probs + F.log_softmax(logits, dim=-1), dim=-1)

    def variance(self, params) -> torch.Tensor:
        """Each action dim's mixture variance (..., A); a logistic of scale s has variance s^2 pi^2 / 3."""
        logits, means, log_scales = params
        return _mixture_variance(logits, means, torch.exp(2.0 * log_scales) * (math.pi ** 2 / 3.0))

    def sample(self, params) -> torch.Tensor:
        logits, means, log_scales = params
        k = torch.distributions.Categorical(logits=logits).sample().unsqueeze(-1)
        mu, ls = means.gather(-1, k).squeeze(-1), log_scales.gather(-1, k).squeeze(-1)
        u = torch.rand_like(mu).clamp(1e-5, 1 - 1e-5)
        return (mu + torch.exp(ls) * (torch.log(u) - torch.log1p(-u))).clamp(-1.0, 1.0)


class GaussianMixtureHead(_MixtureHead):
    """K-component Gaussian mixture per action dimension; params (logits, means, log_stds), each (..., A, K)."""

    def __init__(self, in_dim: int, act_dim: int, n_mix: int = 5, n_bins: int = 0) -> None:
        super().__init__()
        self.act_dim, self.n_mix = act_dim, n_mix
        self.proj = nn.Linear(in_dim, 3 * act_dim * n_mix)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.proj(h).view(*h.shape[:-1], self.act_dim, 3 * self.n_mix)
        logits, means, log_stds = out.split(self.n_mix, dim=-1)
        return logits, torch.tanh(means), log_stds.clamp(_LOG_SCALE_MIN, 2.0)

    def log_prob_dims(self, params, actions: torch.Tensor) -> torch.Tensor:
        logits, means, log_stds = params
        x = actions.unsqueeze(-1)
        comp = Normal(means, torch.exp(log_stds)).log_prob(x)
        return torch.logsumexp(comp + F.log_softmax(logits, dim=-1), dim=-1)

    def variance(self, params) -> torch.Tensor:
        logits, means, log_stds = params
        return _mixture_variance(logits, means, torch.exp(2.0 * log_stds))

    def sample(self, params) -> torch.Tensor:
        logits, means, log_stds = params
        k = torch.distributions.Categorical(logits=logits).sample().unsqueeze(-1)
        mu, ls = means.gather(-1, k).squeeze(-1), log_stds.gather(-1, k).squeeze(-1)
        return (mu + torch.exp(ls) * torch.randn_like(mu)).clamp(-1.0, 1.0)


def _mixture_variance(logits: torch.Tensor, means: torch.Tensor, comp_var: torch.Tensor) -> torch.Tensor:
    """Variance of a K-component mixture along the last dim: sum_k w_k (var_k + mu_k^2) - (sum_k w_k mu_k)^2.
    Component variances are capped at 1 (actions live in [-1, 1]; a wide logistic would overflow)."""
    w = torch.softmax(logits, dim=-1)
    mean = (w * means).sum(-1)
    return ((w * (comp_var.clamp(max=1.0) + means ** 2)).sum(-1) - mean ** 2).clamp(min=1e-12)


HEADS = {"logistic": LogisticMixtureHead, "gaussian": GaussianMixtureHead}


def make_head(kind: str, in_dim: int, act_dim: int, n_mix: int, n_bins: int) -> nn.Module:
    if kind not in HEADS:
        raise ValueError(f"unknown action head {kind!r}; available: {', '.join(sorted(HEADS))}")
    return HEADS[kind](in_dim, act_dim, n_mix, n_bins)


# ------------------------------------------------------------------------------------------------ networks
class PlanRecognition(nn.Module):
    """Φ: bidirectional GRU over (obs, action) windows -> diagonal Gaussian over z.

    ``forward(obs (B, T, D) normalised, actions (B, T, A), mask (B, T) bool)``: padded steps are excluded
    (packed sequences); the last hidden states of both directions -> Linear -> (mean, std) of z (B, Z).
    """

    def __init__(self, obs_dim: int, act_dim: int, latent_dim: int, hidden: int = 128, layers: int = 1) -> None:
        super().__init__()
        self.rnn = nn.GRU(obs_dim + act_dim, hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, 2 * latent_dim)

    def forward(self, obs: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor) -> Independent:
        x = torch.cat([obs, actions], dim=-1)
        lengths = mask.sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, h = self.rnn(packed)  # (layers * 2, B, H)
        return diag_gaussian(self.out(torch.cat([h[-2], h[-1]], dim=-1)))


class PlanProposal(nn.Module):
    """Ψ: MLP on (s_0, s_g) (normalised, (B, D) and (B, G); G = ``goal_dim``, default D) -> diagonal Gaussian
    over z (B, Z)."""

    def __init__(self, obs_dim: int, latent_dim: int, hidden: int = 256, layers: int = 2,
                 goal_dim: int | None = None) -> None:
        super().__init__()
        self.net = mlp(obs_dim + (obs_dim if goal_dim is None else goal_dim), hidden, layers, 2 * latent_dim)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> Independent:
        return diag_gaussian(self.net(torch.cat([obs, goal], dim=-1)))


class GoalConditionedPolicy(nn.Module):
    """π(a | s, s_g, z): MLP on (obs, goal, z) (normalised, (..., D), (..., G), (..., Z)) -> mixture params.

    ``latent_dim=0`` gives the Play-GCBC policy π(a | s, s_g). Params are those of the head (see
    :class:`LogisticMixtureHead`); ``log_prob``/``sample``/``mode`` delegate to it.
    """

    def __init__(self, obs_dim: int, act_dim: int, latent_dim: int = 0, hidden: int = 256, layers: int = 2,
                 head: str = "logistic", n_mix: int = 5, n_bins: int = 256, goal_dim: int | None = None) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        in_dim = obs_dim + (obs_dim if goal_dim is None else goal_dim) + latent_dim
        self.trunk = nn.Sequential(mlp(in_dim, hidden, layers - 1, hidden), nn.ReLU())
        self.head = make_head(head, hidden, act_dim, n_mix, n_bins)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor, z: torch.Tensor | None = None):
        parts = [obs, goal] if z is None or self.latent_dim == 0 else [obs, goal, z]
        return self.head(self.trunk(torch.cat(parts, dim=-1)))

    def log_prob(self, params, actions: torch.Tensor) -> torch.Tensor:
        return self.head.log_prob(params, actions)

    def log_prob_dims(self, params, actions: torch.Tensor) -> torch.Tensor:
        return self.head.log_prob_dims(params, actions)

    def variance(self, params) -> torch.Tensor:
        return self.head.variance(params)

    def sample(self, params) -> torch.Tensor:
        return self.head.sample(params)

    def mode(self, params) -> torch.Tensor:
        return self.head.mode(params)


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
            self.goal_index = _checked_index("goal_index", self.goal_index, self.obs_dim, allow_empty=False)
        if self.ignore_index is not None:
            self.ignore_index = _checked_index("ignore_index", self.ignore_index, self.obs_dim, allow_empty=True)

    @property
    def goal_dim(self) -> int:
        """Width of the goal input of the proposal and the policy."""
        return (self.obs_dim if self.goal_index is None else len(self.goal_index)) * (2 if self.goal_delta else 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _checked_index(name: str, index: list[int], dim: int, allow_empty: bool) -> list[int]:
    index = [int(i) for i in index]
    if (not index and not allow_empty) or any(not 0 <= i < dim for i in index):
        raise ValueError(f"{name} must be a list of indices in [0, {dim}){'' if allow_empty else ', not empty'}, "
                         f"got {index}")
    return index


class PlanActor(nn.Module):
    """Observation normaliser + plan proposal (absent for GCBC) + goal-conditioned policy.

    Buffers ``obs_mean``/``obs_std`` (D,) are in the raw observation's units; every method here takes raw
    observations.
    """

    def __init__(self, cfg: ActorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("obs_mean", torch.zeros(cfg.obs_dim))
        self.register_buffer("obs_std", torch.ones(cfg.obs_dim))
        index = range(cfg.obs_dim) if cfg.goal_index is None else cfg.goal_index
        self.register_buffer("goal_idx", torch.as_tensor(list(index), dtype=torch.long), persistent=False)
        keep = torch.ones(cfg.obs_dim)
        keep[list(cfg.ignore_index or [])] = 0.0
        self.register_buffer("obs_keep", keep, persistent=False)  # from the config: old policy files still load
        self.proposal = (PlanProposal(cfg.obs_dim, cfg.latent_dim, cfg.hidden, cfg.layers, cfg.goal_dim)
                         if cfg.latent_dim else None)
        self.policy = GoalConditionedPolicy(cfg.obs_dim, cfg.act_dim, cfg.latent_dim, cfg.hidden, cfg.layers,
                                            cfg.head, cfg.n_mix, cfg.n_bins, cfg.goal_dim)

    def set_normaliser(self, mean, std) -> None:
        """Set the obs statistics ((D,) each); stds below 1e-6 are raised to 1 (constant features)."""
        mean = torch.as_tensor(mean, dtype=torch.float32)
        std = torch.as_tensor(std, dtype=torch.float32)
        std = torch.where(std < 1e-6, torch.ones_like(std), std)
        self.obs_mean.copy_(mean)
        self.obs_std.copy_(std)

    def normalise(self, obs: torch.Tensor) -> torch.Tensor:
        """Raw -> normalised observation, with the ``cfg.ignore_index`` features zeroed."""
        return (obs - self.obs_mean) / self.obs_std * self.obs_keep

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
    """(plain NLL, training NLL) of ``actions`` (B, T, A) over the real steps of ``mask`` (B, T).

    With ``nll_beta`` = β > 0 the training NLL is β-NLL (Seitzer et al., ICLR 2022): each step's and action
    dim's NLL is weighted by the head's predicted variance to the power β, detached, and the weights are
    rescaled to mean 1 over the batch. Plain NLL lets a model "explain away" the steps it fits badly by
    widening its distribution there, which lowers their gradient; on play and demo data those are the large,
    goal-dependent moves away from the start pose, exactly what goal reaching needs. β = 1 weights every step
    like a squared error would; β = 0 is plain NLL.
    """
    log_prob = policy.log_prob_dims(params, actions)  # (B, T, A)
    nll = _masked_nll(log_prob.sum(-1), mask)
    if nll_beta <= 0:
        return nll, nll
    w = policy.variance(params).detach() ** nll_beta * mask.to(log_prob.dtype).unsqueeze(-1)
    w = w / w[mask].mean().clamp(min=1e-12)  # mean 1 over the real steps' dims
    return nll, _masked_nll((log_prob * w).sum(-1), mask)


def _masked_nll(log_prob: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(log_prob.dtype)
    return -(log_prob * m).sum() / m.sum().clamp(min=1.0)
