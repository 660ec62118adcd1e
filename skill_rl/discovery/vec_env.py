"""The training collector's env: N skill-wrapped tabletop envs stepped together in this process.

Why not ``DummyVecEnv([Monitor(SkillRewardWrapper(env))] * N)``: on the 2-core machine the learner's own
per-step work decides how close training gets to the simulator's speed. Per step, that stack computes the
reach and safety terms once per sub-env on ``(1, D)`` arrays (~0.2 ms of numpy call overhead each step),
and ``DummyVecEnv`` deep-copies every info dict. :class:`SkillVecEnv` steps the base envs one after another
(processes lose on 2 cores: ``skill_rl.envs.vector``), then computes every extrinsic term for all N sub-envs
in one batched call, keeps the episode statistics (``Monitor``'s ``info["episode"]`` and the wrapper's
``episode_reward_terms``) in arrays, and hands out fresh info dicts without copying them.

What comes out is, step for step, what the stacked wrappers give for the same seeds and actions: the same
observations, rewards, dones, ``reward_vector`` / ``reward_terms`` / ``skill`` / ``episode_reward_terms`` /
``episode`` (``r``, ``l``; ``t`` is wall time) / ``TimeLimit.truncated`` / ``terminal_observation``
(``tests/test_discovery_vec_env.py``). Seeding and resets are ``DummyVecEnv``'s: ``seed(s)`` gives sub-env
``i`` the seed ``s + i`` at its next reset.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs, VecEnvStepReturn

from .env import INTRINSIC_TERMS, SkillRewardWrapper

__all__ = ["SkillVecEnv"]


class SkillVecEnv(DummyVecEnv):
    """``num_envs`` :class:`~skill_rl.discovery.env.SkillRewardWrapper` envs as one SB3 ``VecEnv`` (module docstring).

    ``env_fns``: callables that each return a ``SkillRewardWrapper`` (all with the same terms and weights).
    ``step`` returns observations ``(N, D)`` float32 (z appended), scalar rewards ``(N,)`` (``Σ_k w_k r_k``
    over the extrinsic terms, as the wrapper returns), dones and one info dict per sub-env.
    """

    envs: list[SkillRewardWrapper]  # type: ignore[assignment]

    def __init__(self, env_fns: Sequence[Callable[[], SkillRewardWrapper]]) -> None:
        super().__init__(list(env_fns))
        first = self.envs[0]
        if not all(isinstance(e, SkillRewardWrapper) for e in self.envs):
            raise TypeError("SkillVecEnv needs SkillRewardWrapper envs (skill_rl.discovery.env.make_discovery_env)")
        self.term_names = list(first.term_names)
        if any(e.term_names != self.term_names for e in self.envs):
            raise ValueError("SkillVecEnv: every sub-env must have the same reward terms")
        self.obs_layout = first.obs_layout
        self.safety_term = getattr(first, "safety_term", None)
        self.base_dim, self.n_skills = first.base_dim, first.n_skills
        self._extrinsic = [(k, t) for k, t in enumerate(self.term_names) if t not in INTRINSIC_TERMS]
        self._weights = [first.weights[t] for _, t in self._extrinsic]
        self._batch = [first.batch_extrinsic.get(t) for _, t in self._extrinsic]
        n, k = self.num_envs, len(self.term_names)
        self._ep_terms = np.zeros((n, k), np.float64)
        self._ep_return = np.zeros(n, np.float64)
        self._ep_length = np.zeros(n, np.int64)
        self._t_start = time.time()

    def reset(self) -> VecEnvObs:
        obs = super().reset()
        self._ep_terms[:] = 0.0
        self._ep_return[:] = 0.0
        self._ep_length[:] = 0
        return obs

    def _terms(self, full: np.ndarray, infos: list[dict[str, Any]]) -> np.ndarray:
        """``(N, K)`` float32 term rewards: every extrinsic term for all sub-envs at once; intrinsic columns 0."""
        vec = np.zeros((self.num_envs, len(self.term_names)), np.float32)
        for (k, t), fn in zip(self._extrinsic, self._batch, strict=True):
            if fn is not None:
                vec[:, k] = fn(full, infos)
            else:  # a wrapper built with single-step functions only
                vec[:, k] = [self.envs[i].extrinsic[t](full[i], infos[i]) for i in range(self.num_envs)]
        return vec

    def step_wait(self) -> VecEnvStepReturn:
        n = self.num_envs
        full = np.empty((n, self.base_dim + self.n_skills), np.float32)
        infos: list[dict[str, Any]] = []
        terminated = np.zeros(n, bool)
        truncated = np.zeros(n, bool)
        for i, wrapper in enumerate(self.envs):
            obs, _, term, trunc, info = wrapper.env.step(self.actions[i])
            full[i, : self.base_dim] = obs
            full[i, self.base_dim:] = wrapper.skill
            terminated[i], truncated[i] = term, trunc
            infos.append(info)
        vec = self._terms(full, infos)
        # the wrapper's scalar reward: Σ_k w_k r_k over the extrinsic terms, summed in the same order in float64
        scalar = np.zeros(n, np.float64)
        for (k, _), w in zip(self._extrinsic, self._weights, strict=True):
            scalar = scalar + w * vec[:, k].astype(np.float64)
        self._ep_terms += vec
        self._ep_return += scalar
        self._ep_length += 1
        dones = terminated | truncated
        out = full.copy()
        for i, info in enumerate(infos):
            wrapper = self.envs[i]
            info["reward_terms"] = {t: float(vec[i, k]) for k, t in enumerate(self.term_names)}
            info["reward_vector"] = vec[i]
            info["skill"] = wrapper.skill.copy()
            info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            if dones[i]:
                info["episode_reward_terms"] = {t: float(self._ep_terms[i, k]) for k, t in self._extrinsic}
                info["episode"] = {"r": round(float(self._ep_return[i]), 6), "l": int(self._ep_length[i]),
                                   "t": round(time.time() - self._t_start, 6)}
                info["terminal_observation"] = full[i]
                out[i], self.reset_infos[i] = wrapper.reset()
                self._ep_terms[i] = 0.0
                self._ep_return[i] = 0.0
                self._ep_length[i] = 0
        self.buf_obs[None][:] = out  # keep DummyVecEnv's buffer current (render, get_images)
        return out, scalar.astype(np.float32), dones, infos
