"""Skill-conditioned env wrapper: samples ``z`` at reset, appends it to the observation, and returns the
per-term reward vector in ``info``.

Terms are named (``"discovery"``, ``"reach"``, ``"safety"``); the order of ``term_names`` is the column
order of ``info["reward_vector"]`` and of the replay buffer's reward matrix. Intrinsic terms (discovery)
are **not** computed here (their networks live in the trainer and change as they learn): their column is a
0 placeholder that SLIM relabels at sample time. Extrinsic terms are computed from the next observation
and the step's ``info`` (contacts). The scalar reward returned to SB3 is ``Σ_k w_k r_k`` over the extrinsic
terms (bookkeeping for ``Monitor``; SLIM itself learns from the vector).

Keep learning out of ``skill_rl.envs``: this wrapper lives with the learner and uses only numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from .rewards import ReachReward, SafetyReward, default_object_keys, layout_indices

__all__ = ["INTRINSIC_TERMS", "BatchExtrinsicFn", "SkillRewardWrapper", "make_discovery_env"]

INTRINSIC_TERMS = ("discovery",)
ExtrinsicFn = Callable[[np.ndarray, dict], float]
# batched form: next observations (N, D) with z appended, the N steps' infos -> (N,) float32 rewards
BatchExtrinsicFn = Callable[[np.ndarray, Sequence[dict]], np.ndarray]


def _has_contact(contacts: Sequence[tuple[str, str]], a: str, b: str) -> bool:
    return any((x == a and y == b) or (x == b and y == a) for x, y in contacts)


class SkillRewardWrapper(gym.Wrapper):
    """Adds the skill ``z`` (last ``n_skills`` entries of the observation) and ``info["reward_vector"]``.

    * ``discrete=True``: ``z`` is one-hot over ``n_skills`` skills, uniform prior.
    * ``discrete=False``: ``z ~ N(0, I)`` of dimension ``n_skills`` (LSD's continuous prior).

    ``reset(options={"skill": z})`` fixes the skill for one episode (evaluation); ``z`` may be an int
    (discrete) or a vector. ``obs_layout`` is the base env's plus ``"skill"``. ``info`` gets
    ``reward_vector`` ``(K,)`` float32, ``reward_terms`` (name -> value), ``skill``, and at the end of an
    episode ``episode_reward_terms`` (name -> return of the extrinsic terms).

    ``batch_extrinsic`` (optional, name -> :data:`BatchExtrinsicFn`): the same terms over N steps at once;
    the vector collector (:class:`~skill_rl.discovery.vec_env.SkillVecEnv`) computes every sub-env's terms
    with one call instead of N.
    """

    def __init__(self, env: gym.Env, n_skills: int, discrete: bool, term_names: Sequence[str],
                 extrinsic: Mapping[str, ExtrinsicFn], weights: Mapping[str, float] | None = None,
                 batch_extrinsic: Mapping[str, BatchExtrinsicFn] | None = None) -> None:
        super().__init__(env)
        self.batch_extrinsic = dict(batch_extrinsic or {})
        if n_skills < 1:
            raise ValueError(f"n_skills must be >= 1, got {n_skills}")
        unknown = [t for t in term_names if t not in extrinsic and t not in INTRINSIC_TERMS]
        if unknown:
            raise ValueError(f"reward terms {unknown} have no function; known: "
                             f"{sorted([*extrinsic, *INTRINSIC_TERMS])}")
        self.n_skills, self.discrete = n_skills, discrete
        self.term_names = list(term_names)
        self.extrinsic = dict(extrinsic)
        self.weights = {t: float((weights or {}).get(t, 1.0)) for t in self.term_names}
        base = env.observation_space
        assert isinstance(base, gym.spaces.Box) and len(base.shape) == 1, "needs a flat Box observation"
        self.base_dim = base.shape[0]
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(self.base_dim + n_skills,), dtype=np.float32)
        layout = dict(getattr(env.unwrapped, "obs_layout", {}))
        layout["skill"] = slice(self.base_dim, self.base_dim + n_skills)
        self.obs_layout = layout
        self.skill = np.zeros(n_skills, dtype=np.float32)
        self._ep_terms = dict.fromkeys(self.term_names, 0.0)

    def sample_skill(self) -> np.ndarray:
        if self.discrete:
            z = np.zeros(self.n_skills, dtype=np.float32)
            z[self.np_random.integers(self.n_skills)] = 1.0
            return z
        return self.np_random.standard_normal(self.n_skills).astype(np.float32)

    def skill_vector(self, skill: Any) -> np.ndarray:
        if self.discrete and np.isscalar(skill):
            z = np.zeros(self.n_skills, dtype=np.float32)
            z[int(skill)] = 1.0
            return z
        z = np.asarray(skill, dtype=np.float32).reshape(-1)
        if z.shape != (self.n_skills,):
            raise ValueError(f"skill must have shape ({self.n_skills},), got {z.shape}")
        return z

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(obs, dtype=np.float32), self.skill])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        options = dict(options or {})
        fixed = options.pop("skill", None)
        obs, info = self.env.reset(seed=seed, options=options or None)
        self.skill = self.skill_vector(fixed) if fixed is not None else self.sample_skill()
        self._ep_terms = dict.fromkeys(self.term_names, 0.0)
        info["skill"] = self.skill.copy()
        return self._obs(obs), info

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        full = self._obs(obs)
        terms = {t: (0.0 if t in INTRINSIC_TERMS else float(self.extrinsic[t](full, info))) for t in self.term_names}
        for t, v in terms.items():
            self._ep_terms[t] += v
        info["reward_terms"] = terms
        info["reward_vector"] = np.array([terms[t] for t in self.term_names], dtype=np.float32)
        info["skill"] = self.skill.copy()
        if terminated or truncated:
            info["episode_reward_terms"] = {t: v for t, v in self._ep_terms.items() if t not in INTRINSIC_TERMS}
        scalar = sum(self.weights[t] * v for t, v in terms.items() if t not in INTRINSIC_TERMS)
        return full, float(scalar), terminated, truncated, info


def make_discovery_env(env_id: str, n_skills: int, discrete: bool, term_names: Sequence[str],
                       weights: Mapping[str, float] | None = None, env_options: Mapping[str, Any] | None = None,
                       object_key: str | None = None, reach_contact_bonus: float = 0.0,
                       safety_kwargs: Mapping[str, Any] | None = None) -> SkillRewardWrapper:
    """Make a tabletop env and wrap it with the ``reach`` / ``safety`` terms built from its ``obs_layout``.

    ``object_key`` (default: the first movable object's ``<name>_pos``) is the object the reach and safety
    terms watch.
    """
    from skill_rl import envs
    from skill_rl.envs.tabletop.scene import JOINT_LIMITS, TABLE_HALF_SIZE

    # The tabletop's own dense task reward is never used here (the terms are): "sparse" skips computing it,
    # a sixth to a third of a Push step, unless the options ask for it.
    env = envs.make(env_id, **{"reward_type": "sparse", **dict(env_options or {})})
    layout = env.unwrapped.obs_layout
    objs = default_object_keys(layout)
    key = object_key or (objs[0] if objs else None)
    obj_name = key[:-4] if key else None
    batch: dict[str, BatchExtrinsicFn] = {}
    safety: SafetyReward | None = None

    def contact_flags(infos: Sequence[dict], a: str, b: str) -> np.ndarray:
        return np.array([_has_contact(info.get("contacts", ()), a, b) for info in infos])

    if "reach" in term_names:
        if key is None:
            raise ValueError(f"{env_id} has no movable object, so it has no reach term; drop 'reach'")
        reach = ReachReward(layout_indices(layout, ["eef_pos"]), layout_indices(layout, [key]), reach_contact_bonus)
        batch["reach"] = lambda o, infos: reach(o, contact_flags(infos, "gripper", obj_name))
    if "safety" in term_names:
        safety = SafetyReward(layout_indices(layout, ["joint_pos"]), layout_indices(layout, ["joint_vel"]),
                              layout_indices(layout, [key]) if key else None, JOINT_LIMITS,
                              table_half_xy=(float(TABLE_HALF_SIZE[0]), float(TABLE_HALF_SIZE[1])),
                              **dict(safety_kwargs or {}))
        batch["safety"] = lambda o, infos: safety(o, contact_flags(infos, "arm", "table"))
    # one definition per term: the single-step form is the batched one on a batch of one
    extrinsic = {t: (lambda o, info, f=f: float(f(o[None], (info,))[0])) for t, f in batch.items()}
    wrapped = SkillRewardWrapper(env, n_skills, discrete, term_names, extrinsic, weights, batch_extrinsic=batch)
    wrapped.safety_term = safety  # type: ignore[attr-defined]  # for the violation metric (None: no term)
    return wrapped
