"""SLIM's on-policy form: PPO with one value head per reward term (a subclass of stable-baselines3's ``PPO``).

The patent (US 12,393,175, claims 2-3) describes "a neural network with a plurality of outputs ... an action
and values of a state against each reward function", and summaries of the paper speak of normalising each
critic's *advantage* before the weighted combination. That is this class:

* **K value heads**: the critic branch of SB3's ``ActorCriticPolicy`` ends in ``Linear(latent, K)``
  instead of ``Linear(latent, 1)`` (:class:`MultiHeadActorCriticPolicy`).
* **K reward columns** per step (``info["reward_vector"]``, as for :class:`~skill_rl.discovery.slim.SLIM`),
  stored by :class:`MultiHeadRolloutBuffer`; intrinsic columns (LSD / METRA / DIAYN) are relabelled for the
  whole rollout with the module's parameters after ``intrinsic_epochs`` passes of updates on that rollout.
  ``head_matrix`` ``M`` (``n_heads x K``, default identity) maps the term rewards to head rewards
  ``r_head = M r``: the naive-sum baseline is one head with ``M = [w]``, i.e. plain PPO on the summed reward.
* **Per-head GAE**: ``δ_k = r_k + γ V_k(s') − V_k(s)``, ``A_k = Σ (γλ)^l δ_k`` and ``R_k = A_k + V_k``, each
  head with its own rewards and values (time-outs bootstrapped per head with ``γ V_k(s_T)``, as SB3 does).
* **Actor**: per minibatch each head's advantage is standardised, ``Â_k = (A_k − mean A_k) / (std A_k + 1e-8)``,
  then combined ``A = Σ_k w_k Â_k`` and used in PPO's clipped surrogate. With ``normalize_advantage=False``
  the raw advantages are summed with the weights (the naive-sum behaviour, for ablations).
* **Critic loss**: ``Σ_k MSE(R_k, V_k)`` (value clipping per head when ``clip_range_vf`` is set).

With K = 1 and weight 1 the update is exactly SB3's PPO update on the same rollout
(``tests/test_discovery_ppo.py``).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv
from torch import nn
from torch.nn import functional as F

from .rewards import IntrinsicReward

__all__ = ["MultiHeadActorCriticPolicy", "MultiHeadPPO", "MultiHeadRolloutBuffer", "MultiHeadRolloutSamples"]


class MultiHeadRolloutSamples(NamedTuple):
    """A minibatch: ``values``/``advantages``/``returns`` are ``(B, K)``; ``old_log_prob`` ``(B,)``."""

    observations: th.Tensor
    actions: th.Tensor
    old_values: th.Tensor
    old_log_prob: th.Tensor
    advantages: th.Tensor
    returns: th.Tensor


class MultiHeadRolloutBuffer(RolloutBuffer):
    """SB3's ``RolloutBuffer`` with ``(n_steps, n_envs, K)`` rewards, values, advantages and returns, plus the
    next observations (for intrinsic rewards) and the per-head time-out bootstraps (kept apart so that
    relabelling an intrinsic column does not erase them)."""

    def __init__(self, buffer_size: int, observation_space: spaces.Space, action_space: spaces.Space,
                 device: th.device | str = "auto", gae_lambda: float = 1, gamma: float = 0.99, n_envs: int = 1,
                 n_heads: int = 1, head_matrix: np.ndarray | None = None) -> None:
        self.n_heads = n_heads
        self.head_matrix = np.eye(n_heads, dtype=np.float32) if head_matrix is None else np.asarray(head_matrix, np.float32)
        self.n_terms = self.head_matrix.shape[1]
        super().__init__(buffer_size, observation_space, action_space, device, gae_lambda, gamma, n_envs)

    def reset(self) -> None:
        super().reset()
        shape = (self.buffer_size, self.n_envs, self.n_heads)
        self.rewards = np.zeros(shape, dtype=np.float32)
        self.returns = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.advantages = np.zeros(shape, dtype=np.float32)
        self.bootstrap = np.zeros(shape, dtype=np.float32)
        self.term_rewards = np.zeros((self.buffer_size, self.n_envs, self.n_terms), dtype=np.float32)
        self.next_observations = np.zeros_like(self.observations)

    def add(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, episode_start: np.ndarray,  # type: ignore[override]
            value: th.Tensor, log_prob: th.Tensor, next_obs: np.ndarray | None = None,
            bootstrap: np.ndarray | None = None) -> None:
        """``reward`` ``(n_envs, K)`` term rewards; ``value`` and ``bootstrap`` ``(n_envs, n_heads)`` (the
        bootstrap is added to the head rewards when returns are computed)."""
        if len(log_prob.shape) == 0:
            log_prob = log_prob.reshape(-1, 1)
        if isinstance(self.observation_space, spaces.Discrete):
            obs = obs.reshape((self.n_envs, *self.obs_shape))
        pos = self.pos
        self.observations[pos] = np.array(obs)
        self.actions[pos] = np.array(action).reshape((self.n_envs, self.action_dim))
        self.term_rewards[pos] = np.asarray(reward, np.float32).reshape(self.n_envs, self.n_terms)
        self.episode_starts[pos] = np.array(episode_start)
        self.values[pos] = value.clone().cpu().numpy().reshape(self.n_envs, self.n_heads)
        self.log_probs[pos] = log_prob.clone().cpu().numpy()
        if next_obs is not None:
            self.next_observations[pos] = np.asarray(next_obs).reshape(self.next_observations[pos].shape)
        if bootstrap is not None:
            self.bootstrap[pos] = bootstrap
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full = True

    def compute_returns_and_advantage(self, last_values: th.Tensor, dones: np.ndarray) -> None:
        """Per-head GAE(λ) (SB3's recursion, vectorised over heads) on the head rewards ``M r``."""
        last = last_values.clone().cpu().numpy().reshape(self.n_envs, self.n_heads)
        self.rewards = self.term_rewards @ self.head_matrix.T
        rewards = self.rewards + self.bootstrap
        last_gae_lam = np.zeros((self.n_envs, self.n_heads), np.float32)
        for step in reversed(range(self.buffer_size)):
            if step == self.buffer_size - 1:
                next_non_terminal = 1.0 - dones.astype(np.float32)
                next_values = last
            else:
                next_non_terminal = 1.0 - self.episode_starts[step + 1]
                next_values = self.values[step + 1]
            nnt = next_non_terminal[:, None]
            delta = rewards[step] + self.gamma * next_values * nnt - self.values[step]
            last_gae_lam = delta + self.gamma * self.gae_lambda * nnt * last_gae_lam
            self.advantages[step] = last_gae_lam
        self.returns = self.advantages + self.values

    def get(self, batch_size: int | None = None) -> Generator[MultiHeadRolloutSamples, None, None]:  # type: ignore[override]
        assert self.full, ""
        indices = np.random.permutation(self.buffer_size * self.n_envs)
        if not self.generator_ready:
            for name in ("observations", "actions", "values", "log_probs", "advantages", "returns"):
                self.__dict__[name] = self.swap_and_flatten(self.__dict__[name])
            self.generator_ready = True
        batch_size = batch_size or self.buffer_size * self.n_envs
        for start in range(0, self.buffer_size * self.n_envs, batch_size):
            yield self._get_samples(indices[start:start + batch_size])

    def _get_samples(self, batch_inds: np.ndarray, env: Any = None) -> MultiHeadRolloutSamples:  # type: ignore[override]
        data = (self.observations[batch_inds], self.actions[batch_inds].astype(np.float32, copy=False),
                self.values[batch_inds], self.log_probs[batch_inds].flatten(), self.advantages[batch_inds],
                self.returns[batch_inds])
        return MultiHeadRolloutSamples(*tuple(map(self.to_torch, data)))


class MultiHeadActorCriticPolicy(ActorCriticPolicy):
    """``ActorCriticPolicy`` whose value head has ``n_heads`` outputs (one state value per reward term)."""

    def __init__(self, *args: Any, n_heads: int = 1, **kwargs: Any) -> None:
        self.n_heads = n_heads
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        if self.n_heads != 1:
            self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, self.n_heads)
            if self.ortho_init:
                self.value_net.apply(partial(self.init_weights, gain=1))
            self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["n_heads"] = self.n_heads
        return data


class MultiHeadPPO(PPO):
    """PPO with per-reward value heads, per-head GAE and per-head advantage normalisation (module docstring).

    :param term_names: the K reward terms, in the env's ``reward_vector`` order.
    :param head_matrix: ``(n_heads, K)`` terms -> head rewards; default identity (one value head per term).
    :param head_weights: ``w_k`` in ``A = Σ_k w_k Â_k`` (default all 1), one per head.
    :param intrinsic: term name -> ``{"kind": "lsd" | "metra" | "diayn", **kwargs}`` (relabelled per rollout).
    :param intrinsic_epochs: passes over the rollout (minibatches of ``batch_size``) updating each intrinsic
        module before its column is relabelled.
    :param constraints: head index -> ``(budget, lr)``: that head's reward is a cost to keep at or above
        ``-budget`` per step (e.g. the safety term, whose reward is minus the violation cost) instead of a penalty
        with a fixed weight. Its actor weight is a Lagrange multiplier λ >= 0, updated after every rollout by
        dual ascent ``λ <- max(0, λ + lr (mean cost - budget))``, starting at the head's weight (PPO-Lagrangian
        on the standardised advantage).
    Other arguments are PPO's (``normalize_advantage`` switches the per-head standardisation).
    """

    policy_aliases = {"MlpPolicy": MultiHeadActorCriticPolicy}  # noqa: RUF012
    policy: MultiHeadActorCriticPolicy
    rollout_buffer: MultiHeadRolloutBuffer

    def __init__(self, policy: Any = "MlpPolicy", env: Any = None, *, term_names: Sequence[str] = ("reward",),
                 head_matrix: Sequence[Sequence[float]] | None = None, head_weights: Sequence[float] | None = None,
                 intrinsic: Mapping[str, Mapping[str, Any]] | None = None,
                 intrinsic_epochs: int = 1, constraints: Mapping[int, tuple[float, float]] | None = None,
                 _init_setup_model: bool = True, **ppo_kwargs: Any) -> None:
        from .slim import checked_heads, checked_intrinsic_spec

        self.term_names = list(term_names)
        self.head_matrix, self.head_weights = checked_heads(head_matrix, head_weights, len(self.term_names))
        self.n_heads = self.head_matrix.shape[0]
        self.intrinsic_spec = checked_intrinsic_spec(intrinsic, self.term_names)
        self.intrinsic_epochs = intrinsic_epochs
        self.constraints = {int(k): (float(b), float(lr)) for k, (b, lr) in (constraints or {}).items()}
        bad = [k for k in self.constraints if not 0 <= k < self.n_heads]
        if bad:
            raise ValueError(f"constraints name heads {bad}; the model has heads 0..{self.n_heads - 1}")
        self.last_train_stats: dict[str, float] = {}
        policy_kwargs = dict(ppo_kwargs.pop("policy_kwargs", None) or {})
        policy_kwargs["n_heads"] = self.n_heads
        ppo_kwargs.setdefault("rollout_buffer_class", MultiHeadRolloutBuffer)
        rb_kwargs = dict(ppo_kwargs.pop("rollout_buffer_kwargs", None) or {})
        rb_kwargs["n_heads"] = self.n_heads
        rb_kwargs["head_matrix"] = self.head_matrix
        super().__init__(policy, env, policy_kwargs=policy_kwargs, rollout_buffer_kwargs=rb_kwargs,
                         _init_setup_model=_init_setup_model, **ppo_kwargs)

    def _setup_model(self) -> None:
        from .slim import build_intrinsic

        super()._setup_model()
        self.intrinsic = build_intrinsic(self.intrinsic_spec, self.device)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "intrinsic"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        return [*state_dicts, *(f"intrinsic.{n}" for n in self.intrinsic),
                *(f"intrinsic.{n}.optimizer" for n in self.intrinsic)], variables

    # ------------------------------------------------------------------ rollouts
    def _reward_vectors(self, rewards: np.ndarray, infos: list[dict[str, Any]]) -> np.ndarray:
        if infos and all("reward_vector" in info for info in infos):
            vec = np.stack([np.asarray(info["reward_vector"], np.float32) for info in infos])
        elif len(self.term_names) == 1:
            vec = np.asarray(rewards, np.float32).reshape(-1, 1)
        else:
            raise ValueError(f"MultiHeadPPO with {len(self.term_names)} terms needs info['reward_vector'] from the env")
        if vec.shape[1] != len(self.term_names):
            raise ValueError(f"reward vectors have {vec.shape[1]} terms, the model has {len(self.term_names)}")
        return vec

    def relabel_rollout(self, buffer: MultiHeadRolloutBuffer) -> dict[str, float]:
        """Update each intrinsic module on the rollout, then overwrite its reward column with it."""
        if not self.intrinsic:
            return {}
        n = buffer.buffer_size * buffer.n_envs
        obs = th.as_tensor(buffer.observations.reshape(n, -1), device=self.device)
        nxt = th.as_tensor(buffer.next_observations.reshape(n, -1), device=self.device)
        stats: dict[str, float] = {}
        bs = self.batch_size or n
        for name, module in self.intrinsic.items():
            assert isinstance(module, IntrinsicReward)
            losses = []
            for _ in range(self.intrinsic_epochs):
                perm = th.randperm(n)
                for s in range(0, n, bs):
                    idx = perm[s:s + bs]
                    losses.append(module.update(obs[idx], nxt[idx]))
            r = module.relabel(obs, nxt).cpu().numpy().reshape(buffer.buffer_size, buffer.n_envs)
            buffer.term_rewards[:, :, self.term_names.index(name)] = r
            stats[f"train/{name}/loss"] = float(np.mean(losses)) if losses else 0.0
            stats[f"train/{name}/reward"] = float(r.mean())
        return stats

    def collect_rollouts(self, env: VecEnv, callback: BaseCallback, rollout_buffer: RolloutBuffer,  # type: ignore[override]
                         n_rollout_steps: int) -> bool:
        """SB3's ``collect_rollouts`` with reward vectors, next observations and per-head time-out bootstraps."""
        assert self._last_obs is not None, "No previous observation was provided"
        assert isinstance(rollout_buffer, MultiHeadRolloutBuffer)
        self.policy.set_training_mode(False)
        n_steps = 0
        rollout_buffer.reset()
        if self.use_sde:
            self.policy.reset_noise(env.num_envs)
        callback.on_rollout_start()
        while n_steps < n_rollout_steps:
            if self.use_sde and self.sde_sample_freq > 0 and n_steps % self.sde_sample_freq == 0:
                self.policy.reset_noise(env.num_envs)
            with th.no_grad():
                actions, values, log_probs = self.policy(obs_as_tensor(self._last_obs, self.device))  # type: ignore[arg-type]
            actions = actions.cpu().numpy()
            clipped_actions = actions
            if isinstance(self.action_space, spaces.Box):
                if self.policy.squash_output:
                    clipped_actions = self.policy.unscale_action(clipped_actions)
                else:
                    clipped_actions = np.clip(actions, self.action_space.low, self.action_space.high)
            new_obs, rewards, dones, infos = env.step(clipped_actions)
            self.num_timesteps += env.num_envs
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            self._update_info_buffer(infos, dones)
            n_steps += 1
            if isinstance(self.action_space, spaces.Discrete):
                actions = actions.reshape(-1, 1)
            vec = self._reward_vectors(rewards, infos)
            next_obs = np.array(new_obs)
            bootstrap = np.zeros((len(vec), self.n_heads), np.float32)
            cut: list[int] = []  # envs whose episode hit its time limit: bootstrap from V(s_T), one batched pass
            for idx, done in enumerate(dones):
                term_obs = infos[idx].get("terminal_observation")
                if done and term_obs is not None:
                    next_obs[idx] = term_obs
                    if infos[idx].get("TimeLimit.truncated", False):
                        cut.append(idx)
            if cut:
                with th.no_grad():
                    tv = self.policy.predict_values(obs_as_tensor(next_obs[cut], self.device))  # type: ignore[arg-type]
                bootstrap[cut] = self.gamma * tv.cpu().numpy().reshape(len(cut), self.n_heads)
            rollout_buffer.add(self._last_obs, actions, vec, self._last_episode_starts, values, log_probs,  # type: ignore[arg-type]
                               next_obs=next_obs, bootstrap=bootstrap)
            self._last_obs = new_obs  # type: ignore[assignment]
            self._last_episode_starts = dones
        with th.no_grad():
            values = self.policy.predict_values(obs_as_tensor(new_obs, self.device))  # type: ignore[arg-type]
        self._relabel_stats = self.relabel_rollout(rollout_buffer)
        self._relabel_stats.update(self.update_multipliers(rollout_buffer))
        rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True

    def update_multipliers(self, buffer: MultiHeadRolloutBuffer) -> dict[str, float]:
        """Dual ascent on each constrained head's weight from this rollout's mean cost (minus its reward)."""
        stats: dict[str, float] = {}
        if not self.constraints:
            return stats
        head_rewards = buffer.term_rewards @ self.head_matrix.T  # (n_steps, n_envs, n_heads)
        for key, (budget, lr) in self.constraints.items():
            k = int(key)  # a reloaded checkpoint's keys come back as strings (SB3 stores the dict as JSON)
            cost = float(-head_rewards[..., k].mean())
            self.head_weights[k] = max(0.0, float(self.head_weights[k]) + lr * (cost - budget))
            stats[f"train/constraint_cost_head{k}"] = cost
            stats[f"train/lagrange_multiplier_head{k}"] = float(self.head_weights[k])
        return stats

    # ------------------------------------------------------------------ the update
    def combine_advantages(self, advantages: th.Tensor) -> th.Tensor:
        """``(B, K)`` per-head advantages -> ``(B,)``: standardise each head (if ``normalize_advantage`` and
        B > 1), then the weighted sum."""
        if self.normalize_advantage and len(advantages) > 1:
            advantages = (advantages - advantages.mean(0)) / (advantages.std(0) + 1e-8)
        return (advantages * th.as_tensor(self.head_weights, device=advantages.device)).sum(-1)

    def train(self) -> None:
        """PPO's ``train`` (line for line) with K value heads and the combined per-head advantage."""
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        clip_range = self.clip_range(self._current_progress_remaining)  # type: ignore[operator]
        clip_range_vf = None
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)  # type: ignore[operator]
        entropy_losses, pg_losses, value_losses, clip_fractions = [], [], [], []
        head_losses = np.zeros(self.n_heads)
        n_minibatches = 0
        approx_kl_divs: list[float] = []
        continue_training = True
        loss = th.zeros(())
        for _epoch in range(self.n_epochs):
            approx_kl_divs = []
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                actions = rollout_data.actions
                if isinstance(self.action_space, spaces.Discrete):
                    actions = rollout_data.actions.long().flatten()
                values, log_prob, entropy = self.policy.evaluate_actions(rollout_data.observations, actions)
                values = values.reshape(-1, self.n_heads)
                advantages = self.combine_advantages(rollout_data.advantages)
                ratio = th.exp(log_prob - rollout_data.old_log_prob)
                policy_loss_1 = advantages * ratio
                policy_loss_2 = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
                policy_loss = -th.min(policy_loss_1, policy_loss_2).mean()
                pg_losses.append(policy_loss.item())
                clip_fractions.append(th.mean((th.abs(ratio - 1) > clip_range).float()).item())
                if clip_range_vf is None:
                    values_pred = values
                else:
                    values_pred = rollout_data.old_values + th.clamp(values - rollout_data.old_values,
                                                                     -clip_range_vf, clip_range_vf)
                per_head = F.mse_loss(rollout_data.returns, values_pred, reduction="none").mean(0)  # (K,)
                value_loss = per_head.sum()
                value_losses.append(value_loss.item())
                head_losses += per_head.detach().cpu().numpy()
                n_minibatches += 1
                entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
                entropy_losses.append(entropy_loss.item())
                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                with th.no_grad():
                    log_ratio = log_prob - rollout_data.old_log_prob
                    approx_kl_div = th.mean((th.exp(log_ratio) - 1) - log_ratio).cpu().numpy()
                    approx_kl_divs.append(float(approx_kl_div))
                if self.target_kl is not None and approx_kl_div > 1.5 * self.target_kl:
                    continue_training = False
                    break
                self.policy.optimizer.zero_grad()
                loss.backward()
                th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                self.policy.optimizer.step()
            self._n_updates += 1
            if not continue_training:
                break
        explained_var = explained_variance(self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten())
        stats = {"train/entropy_loss": np.mean(entropy_losses), "train/policy_gradient_loss": np.mean(pg_losses),
                 "train/value_loss": np.mean(value_losses), "train/approx_kl": np.mean(approx_kl_divs),
                 "train/clip_fraction": np.mean(clip_fractions), "train/loss": loss.item(),
                 "train/explained_variance": explained_var, "train/clip_range": clip_range,
                 **getattr(self, "_relabel_stats", {})}
        # per-critic scales before the standardisation: how much each head would weigh in a raw (naive) sum
        adv = np.asarray(self.rollout_buffer.advantages).reshape(-1, self.n_heads)
        rew = np.asarray(self.rollout_buffer.rewards).reshape(-1, self.n_heads)
        for k in range(self.n_heads):
            stats[f"train/value_loss_head{k}"] = float(head_losses[k] / max(n_minibatches, 1))
            stats[f"train/advantage_std_head{k}"] = float(adv[:, k].std())
            stats[f"train/reward_mean_head{k}"] = float(rew[:, k].mean())
        self.last_train_stats = {k: float(v) for k, v in stats.items()}
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        for key, v in self.last_train_stats.items():
            self.logger.record(key, v)
