"""SLIM: Skill Learning with Multiple Critics, as a subclass of stable-baselines3's ``SAC``.

One skill-conditioned actor π(a|s,z), ``n_heads`` critics (each a twin-Q with its own target network, all in
one batched :class:`~skill_rl.discovery.critics.MultiCriticEnsemble`), one reward column per critic.

Reward terms and critics. The env stores K reward terms per transition (``info["reward_vector"]``, stored
as ``(n, K)`` by :class:`MultiRewardReplayBuffer`). ``head_matrix`` ``M`` (``n_heads x K``) maps terms to
critics: head h learns from ``r_h = Σ_k M[h, k] r_k``. SLIM is ``M = I`` (one critic per term); the
``naive_sum`` baseline is one row of the term weights (all rewards summed into ONE critic); ``lsd``/``diayn``
keep only the discovery term. Intrinsic terms (``intrinsic``: column -> reward module) are relabelled on
every sampled minibatch with the module's current parameters, after one update of that module on the same
minibatch (LSD/METRA order).

Per gradient step (mirrors ``SAC.train`` line by line, so K=1 reproduces it exactly):

* α (entropy coefficient) loss: SAC's, unchanged.
* TD target of head h: ``y_h = r_h + γ (1 − d) (min_i Q̄_{h,i}(s', a') − [h ∈ entropy heads] α log π(a'|s'))``,
  ``a' ~ π(·|s')``. **Entropy placement** (``entropy_heads``): ``"first"`` (default) puts the soft-value
  entropy bonus only in head 0, the discovery critic by convention, so exploration is counted once and not
  K times; ``"all"`` puts it in every head (each head is then a soft Q of its own reward; with K=1 both
  equal SB3's SAC); ``"none"``: plain Q targets (entropy only in the actor loss).
* Critic loss: ``Σ_h 0.5 Σ_i MSE(Q_{h,i}(s, a), y_h)`` — summed over heads; heads share no parameters, so
  head h's loss moves only head h.
* Actor loss: ``mean(α log π(a|s) − Σ_h w_h · Q_h(s, a) / σ_h)``, ``a ~ π(·|s)``, ``Q_h = min_i Q_{h,i}``.
  **Normalisation** (``normalize``): ``"ema_std"`` (default): σ_h is an exponential moving average
  (``norm_beta``) of the minibatch standard deviation of ``Q_h(s, π(s))`` (detached). Why the std and not
  ``|Q|``: a constant offset in a reward (e.g. a per-step penalty) shifts Q without changing which action is
  better, and would inflate ``|Q|`` and silence that critic; the std is offset-free and scales with the
  reward, so scaling reward h by c > 0 leaves its normalised term unchanged — no term dominates by scale.
  Dividing by σ_h is standardising the critic's advantage (the batch mean is a constant for the gradient).
  The EMA smooths the noise of a 256-sample std. ``"batch_std"``: no EMA; ``"none"``: σ_h = 1.
  The critic is evaluated with its parameters frozen here, so the backward pass computes only ∂Q/∂a (the
  same actor gradient as SB3's SAC, without its discarded critic weight gradients).

Critic layout (``critic_layout``): ``"separate"`` (default; no shared parameters between heads) or
``"shared"`` (twin networks with one output per head, cheaper on a CPU); see ``docs/slim.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.common.vec_env import VecNormalize
from stable_baselines3.sac.policies import SACPolicy
from torch import nn

from .critics import MultiCriticEnsemble
from .rewards import DIAYNReward, IntrinsicReward, LSDReward, METRAReward

__all__ = ["SLIM", "MultiCriticSACPolicy", "MultiRewardReplayBuffer", "MultiRewardSamples"]

INTRINSIC_KINDS: dict[str, type[IntrinsicReward]] = {"lsd": LSDReward, "metra": METRAReward, "diayn": DIAYNReward}


def checked_heads(head_matrix: Sequence[Sequence[float]] | None, head_weights: Sequence[float] | None,
                  n_terms: int) -> tuple[np.ndarray, np.ndarray]:
    """``(M, w)``: the ``(n_heads, n_terms)`` terms -> head-rewards matrix (default identity) and one weight per
    head (default 1), shape-checked; SLIM (SAC) and MultiHeadPPO take the same two arguments."""
    m = np.eye(n_terms, dtype=np.float32) if head_matrix is None else np.asarray(head_matrix, dtype=np.float32)
    if m.ndim != 2 or m.shape[1] != n_terms:
        raise ValueError(f"head_matrix must be (n_heads, {n_terms}), got shape {m.shape}")
    w = np.ones(m.shape[0], np.float32) if head_weights is None else np.asarray(head_weights, np.float32)
    if w.shape != (m.shape[0],):
        raise ValueError(f"head_weights must have {m.shape[0]} entries, got {w.shape}")
    return m, w


def checked_intrinsic_spec(intrinsic: Mapping[str, Mapping[str, Any]] | None,
                           term_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A copy of the intrinsic-term specs, each naming one of ``term_names`` and a known ``kind``."""
    specs = {name: dict(spec) for name, spec in (intrinsic or {}).items()}
    for name, spec in specs.items():
        if name not in term_names:
            raise ValueError(f"intrinsic term {name!r} is not one of the terms {list(term_names)}")
        if spec.get("kind") not in INTRINSIC_KINDS:
            raise ValueError(f"intrinsic term {name!r}: kind must be one of {sorted(INTRINSIC_KINDS)}")
    return specs


def build_intrinsic(spec: Mapping[str, Mapping[str, Any]], device: th.device | str) -> nn.ModuleDict:
    """The intrinsic reward modules (column name -> LSD / METRA / DIAYN) from their saved specs; a spec is
    plain data (``kind`` + constructor arguments, ``skill_slice`` as a pair) so that it survives SB3's save."""
    modules: dict[str, nn.Module] = {}
    for name, entry in spec.items():
        kwargs = {k: v for k, v in entry.items() if k != "kind"}
        if isinstance(kwargs.get("skill_slice"), list | tuple):
            kwargs["skill_slice"] = slice(*kwargs["skill_slice"])
        modules[name] = INTRINSIC_KINDS[entry["kind"]](**kwargs).to(device)
    return nn.ModuleDict(modules)


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """``requires_grad = False`` on ``module``'s parameters inside the block (restored after)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


class MultiRewardSamples(NamedTuple):
    """A minibatch. Shapes: observations/next_observations ``(B, obs_dim)``, actions ``(B, act_dim)``,
    dones ``(B, 1)`` (1 = terminal, time-outs excluded), rewards ``(B, K)`` (one column per reward term)."""

    observations: th.Tensor
    actions: th.Tensor
    next_observations: th.Tensor
    dones: th.Tensor
    rewards: th.Tensor
    discounts: th.Tensor | None = None


class MultiRewardReplayBuffer(ReplayBuffer):
    """SB3 ``ReplayBuffer`` whose ``rewards`` are ``(buffer_size, n_envs, n_rewards)``.

    ``add`` takes each env's reward vector from ``infos[i]["reward_vector"]`` (``(n_rewards,)``); without
    it (``n_rewards == 1`` only) the scalar reward is stored.
    """

    def __init__(self, buffer_size: int, observation_space: spaces.Space, action_space: spaces.Space,
                 device: th.device | str = "auto", n_envs: int = 1, optimize_memory_usage: bool = False,
                 handle_timeout_termination: bool = True, n_rewards: int = 1) -> None:
        super().__init__(buffer_size, observation_space, action_space, device, n_envs=n_envs,
                         optimize_memory_usage=optimize_memory_usage,
                         handle_timeout_termination=handle_timeout_termination)
        self.n_rewards = n_rewards
        self.rewards = np.zeros((self.buffer_size, self.n_envs, n_rewards), dtype=np.float32)

    def add(self, obs, next_obs, action, reward, done, infos: list[dict[str, Any]]) -> None:
        if infos and all("reward_vector" in info for info in infos):
            vec = np.stack([np.asarray(info["reward_vector"], dtype=np.float32) for info in infos])
        elif self.n_rewards == 1:
            vec = np.asarray(reward, dtype=np.float32).reshape(self.n_envs, 1)
        else:
            raise ValueError(f"MultiRewardReplayBuffer with {self.n_rewards} rewards needs info['reward_vector']")
        if vec.shape != (self.n_envs, self.n_rewards):
            raise ValueError(f"reward vectors have shape {vec.shape}, expected {(self.n_envs, self.n_rewards)}")
        super().add(obs, next_obs, action, vec, done, infos)

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> MultiRewardSamples:
        env_indices = np.random.randint(0, high=self.n_envs, size=(len(batch_inds),))
        if self.optimize_memory_usage:
            next_obs = self._normalize_obs(self.observations[(batch_inds + 1) % self.buffer_size, env_indices, :], env)
        else:
            next_obs = self._normalize_obs(self.next_observations[batch_inds, env_indices, :], env)
        data = (
            self._normalize_obs(self.observations[batch_inds, env_indices, :], env),
            self.actions[batch_inds, env_indices, :],
            next_obs,
            (self.dones[batch_inds, env_indices] * (1 - self.timeouts[batch_inds, env_indices])).reshape(-1, 1),
            self.rewards[batch_inds, env_indices, :],
        )
        return MultiRewardSamples(*tuple(map(self.to_torch, data)))


class MultiCriticSACPolicy(SACPolicy):
    """``SACPolicy`` whose critic (and target) is a :class:`MultiCriticEnsemble` with ``n_heads`` heads."""

    critic: MultiCriticEnsemble  # type: ignore[assignment]
    critic_target: MultiCriticEnsemble  # type: ignore[assignment]

    def __init__(self, *args: Any, n_heads: int = 1, critic_layout: str = "separate", **kwargs: Any) -> None:
        self.n_heads = n_heads
        self.critic_layout = critic_layout
        super().__init__(*args, **kwargs)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> MultiCriticEnsemble:  # type: ignore[override]
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return MultiCriticEnsemble(**critic_kwargs, n_heads=self.n_heads, layout=self.critic_layout).to(self.device)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["n_heads"] = self.n_heads
        data["critic_layout"] = self.critic_layout
        return data


class SLIM(SAC):
    """Multi-critic SAC (see the module docstring for the update).

    :param term_names: the K reward terms, in the env's ``reward_vector`` order.
    :param head_matrix: ``(n_heads, K)`` terms -> critic rewards; default identity (one critic per term).
    :param head_weights: ``w_h`` of each head in the actor loss (default all 1).
    :param normalize: ``"ema_std"`` | ``"batch_std"`` | ``"none"``.
    :param norm_beta: EMA factor of ``"ema_std"`` (σ ← β σ + (1 − β) std_batch).
    :param entropy_heads: ``"first"`` | ``"all"`` | ``"none"``: heads whose TD target has the entropy bonus.
    :param intrinsic: term name -> ``{"kind": "lsd" | "metra" | "diayn", **kwargs of the reward class}``; those
        columns are relabelled at sample time.
    :param critic_layout: ``"separate"`` (default: every head its own twin-Q networks, no shared parameters)
        or ``"shared"`` (twin networks with one output per head; see :mod:`skill_rl.discovery.critics`).
    Other arguments are SAC's.
    """

    policy_aliases = {"MlpPolicy": MultiCriticSACPolicy}  # noqa: RUF012
    policy: MultiCriticSACPolicy
    critic: MultiCriticEnsemble  # type: ignore[assignment]
    critic_target: MultiCriticEnsemble  # type: ignore[assignment]

    def __init__(self, policy: Any = "MlpPolicy", env: Any = None, *, term_names: Sequence[str] = ("reward",),
                 head_matrix: Sequence[Sequence[float]] | None = None, head_weights: Sequence[float] | None = None,
                 normalize: str = "ema_std", norm_beta: float = 0.99, norm_eps: float = 1e-6,
                 entropy_heads: str = "first", intrinsic: Mapping[str, Mapping[str, Any]] | None = None,
                 critic_layout: str | None = None, _init_setup_model: bool = True, **sac_kwargs: Any) -> None:
        self.term_names = list(term_names)
        self.head_matrix, self.head_weights = checked_heads(head_matrix, head_weights, len(self.term_names))
        self.n_heads = self.head_matrix.shape[0]
        if normalize not in ("ema_std", "batch_std", "none"):
            raise ValueError(f"normalize must be 'ema_std', 'batch_std' or 'none', got {normalize!r}")
        if entropy_heads not in ("first", "all", "none"):
            raise ValueError(f"entropy_heads must be 'first', 'all' or 'none', got {entropy_heads!r}")
        self.normalize, self.norm_beta, self.norm_eps, self.entropy_heads = normalize, norm_beta, norm_eps, entropy_heads
        self.intrinsic_spec = checked_intrinsic_spec(intrinsic, self.term_names)
        self.q_scale = np.ones(self.n_heads, dtype=np.float64)
        self._q_scale_init = False
        self.last_train_stats: dict[str, float] = {}
        policy_kwargs = dict(sac_kwargs.pop("policy_kwargs", None) or {})
        policy_kwargs["n_heads"] = self.n_heads
        if critic_layout is not None:
            policy_kwargs["critic_layout"] = critic_layout
        sac_kwargs.setdefault("replay_buffer_class", MultiRewardReplayBuffer)
        rb_kwargs = dict(sac_kwargs.pop("replay_buffer_kwargs", None) or {})
        rb_kwargs["n_rewards"] = len(self.term_names)
        super().__init__(policy, env, policy_kwargs=policy_kwargs, replay_buffer_kwargs=rb_kwargs,
                         _init_setup_model=_init_setup_model, **sac_kwargs)

    # ------------------------------------------------------------------ setup / save
    def _setup_model(self) -> None:
        super()._setup_model()
        self.intrinsic = build_intrinsic(self.intrinsic_spec, self.device)
        self._head_matrix_t = th.as_tensor(self.head_matrix, device=self.device)
        self._entropy_mask = th.zeros(self.n_heads, 1, device=self.device)
        if self.entropy_heads == "all":
            self._entropy_mask[:] = 1.0
        elif self.entropy_heads == "first":
            self._entropy_mask[0] = 1.0

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "intrinsic", "_head_matrix_t", "_entropy_mask"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        state_dicts = [*state_dicts, *(f"intrinsic.{n}" for n in self.intrinsic),
                       *(f"intrinsic.{n}.optimizer" for n in self.intrinsic)]
        return state_dicts, variables

    # ------------------------------------------------------------------ the update
    def head_rewards(self, rewards: th.Tensor) -> th.Tensor:
        """Term rewards ``(B, K)`` -> critic rewards ``(n_heads, B, 1)`` through ``head_matrix``."""
        return (rewards @ self._head_matrix_t.t()).t().unsqueeze(-1)

    def relabel(self, replay_data: MultiRewardSamples) -> tuple[MultiRewardSamples, dict[str, float]]:
        """Update each intrinsic module on the minibatch, then recompute its reward column with it."""
        if not self.intrinsic:
            return replay_data, {}
        stats: dict[str, float] = {}
        rewards = replay_data.rewards.clone()
        for name, module in self.intrinsic.items():
            stats[f"{name}/loss"] = module.update(replay_data.observations, replay_data.next_observations)
            r = module.relabel(replay_data.observations, replay_data.next_observations)
            rewards[:, self.term_names.index(name)] = r
            stats[f"{name}/reward"] = float(r.mean().item())
            if isinstance(module, METRAReward):
                stats[f"{name}/dual_lambda"] = module.lam
        return replay_data._replace(rewards=rewards), stats

    def _scales(self, q_pi: th.Tensor) -> th.Tensor:
        """σ_h for the actor loss from ``q_pi`` ``(n_heads, B)`` (detached); updates the EMA."""
        if self.normalize == "none":
            return th.ones(self.n_heads, 1, device=q_pi.device)
        std = q_pi.detach().std(dim=1).double().cpu().numpy() if q_pi.shape[1] > 1 else np.ones(self.n_heads)
        if self.normalize == "batch_std":
            scale = std
        else:
            if not self._q_scale_init:
                self.q_scale = std.copy()
                self._q_scale_init = True
            else:
                self.q_scale = self.norm_beta * self.q_scale + (1.0 - self.norm_beta) * std
            scale = self.q_scale
        return th.as_tensor(scale + self.norm_eps, dtype=q_pi.dtype, device=q_pi.device).unsqueeze(1)

    def critic_losses(self, replay_data: MultiRewardSamples, ent_coef: th.Tensor,
                      discounts: th.Tensor | float) -> th.Tensor:
        """Per-head critic losses ``(n_heads,)``: ``0.5 Σ_i MSE(Q_{h,i}(s, a), y_h)`` with head h's own target
        ``y_h`` (own reward column, own target network; see the module docstring). Samples ``a' ~ π(·|s')``."""
        with th.no_grad():
            next_actions, next_log_prob = self.actor.action_log_prob(replay_data.next_observations)
            next_q = self.critic_target(replay_data.next_observations, next_actions)  # (H, n_q, B)
            next_q, _ = th.min(next_q, dim=1)  # (H, B)
            next_q = next_q.unsqueeze(-1) - self._entropy_mask.unsqueeze(-1) * (
                ent_coef * next_log_prob.reshape(1, -1, 1))  # (H, B, 1)
            target_q = self.head_rewards(replay_data.rewards) + (1 - replay_data.dones) * discounts * next_q
        current_q = self.critic(replay_data.observations, replay_data.actions).unsqueeze(-1)  # (H, n_q, B, 1)
        return 0.5 * ((current_q - target_q.unsqueeze(1)) ** 2).mean(dim=(2, 3)).sum(dim=1)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers += [self.ent_coef_optimizer]
        self._update_learning_rate(optimizers)

        ent_coef_losses, ent_coefs = [], []
        actor_losses, critic_losses = [], []
        head_losses = np.zeros(self.n_heads)
        extra: dict[str, list[float]] = {}
        weights = th.as_tensor(self.head_weights, device=self.device).unsqueeze(1)

        for gradient_step in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            replay_data, stats = self.relabel(replay_data)  # type: ignore[arg-type]
            for key, v in stats.items():
                extra.setdefault(key, []).append(v)
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma

            if self.use_sde:
                self.actor.reset_noise()

            actions_pi, log_prob = self.actor.action_log_prob(replay_data.observations)
            log_prob = log_prob.reshape(-1, 1)

            ent_coef_loss = None
            if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                ent_coef = th.exp(self.log_ent_coef.detach())
                assert isinstance(self.target_entropy, float)
                ent_coef_loss = -(self.log_ent_coef * (log_prob + self.target_entropy).detach()).mean()
                ent_coef_losses.append(ent_coef_loss.item())
            else:
                ent_coef = self.ent_coef_tensor
            ent_coefs.append(ent_coef.item())

            if ent_coef_loss is not None and self.ent_coef_optimizer is not None:
                self.ent_coef_optimizer.zero_grad()
                ent_coef_loss.backward()
                self.ent_coef_optimizer.step()

            per_head = self.critic_losses(replay_data, ent_coef, discounts)  # (H,)
            critic_loss = per_head.sum()
            critic_losses.append(critic_loss.item())
            head_losses += per_head.detach().cpu().numpy()

            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()

            # the actor loss needs dQ/da only: with the critic's parameters frozen, autograd skips their weight
            # gradients (SB3's SAC computes them and throws them away at the next critic zero_grad)
            with frozen(self.critic):
                q_pi = self.critic(replay_data.observations, actions_pi)  # (H, n_q, B)
            min_q_pi, _ = th.min(q_pi, dim=1)  # (H, B)
            scales = self._scales(min_q_pi)
            combined = (weights * min_q_pi / scales).sum(0).unsqueeze(-1)  # (B, 1)
            actor_loss = (ent_coef * log_prob - combined).mean()
            actor_losses.append(actor_loss.item())

            self.actor.optimizer.zero_grad()
            actor_loss.backward()
            self.actor.optimizer.step()

            if gradient_step % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

        self._n_updates += gradient_steps
        stats_out = {
            "train/ent_coef": float(np.mean(ent_coefs)), "train/actor_loss": float(np.mean(actor_losses)),
            "train/critic_loss": float(np.mean(critic_losses)),
        }
        for h in range(self.n_heads):
            stats_out[f"train/critic_loss_head{h}"] = float(head_losses[h] / max(gradient_steps, 1))
            stats_out[f"train/q_scale_head{h}"] = float(self.q_scale[h])
        for key, vals in extra.items():
            stats_out[f"train/{key}"] = float(np.mean(vals))
        if ent_coef_losses:
            stats_out["train/ent_coef_loss"] = float(np.mean(ent_coef_losses))
        self.last_train_stats = stats_out
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        for key, v in stats_out.items():
            self.logger.record(key, v)

