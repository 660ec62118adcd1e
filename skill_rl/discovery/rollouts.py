"""Deterministic evaluation rollouts of a skill policy and their metrics.

:func:`rollout_episode` is the unit of work the Ray evaluators in ``skill_rl.dist`` share with
:func:`rollout_skills`, so both give the same arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .config import DiscoveryConfig

__all__ = ["assemble_rollouts", "eval_skills_list", "evaluate_skills", "rollout_episode", "rollout_skills"]


def eval_skills_list(env: Any, cfg: DiscoveryConfig, seed: int = 10_000) -> list[tuple[int, np.ndarray]]:
    """The evaluated skills: every skill (discrete) or ``2 * n_skills`` random z (continuous), as (id, z)."""
    if cfg.discrete_skills:
        return [(i, env.skill_vector(i)) for i in range(cfg.n_skills)]
    rng = np.random.default_rng(seed)
    return [(i, rng.standard_normal(cfg.n_skills).astype(np.float32)) for i in range(2 * cfg.n_skills)]


def rollout_episode(policy: Any, env: Any, z: np.ndarray, start_seed: int) -> dict[str, Any]:
    """One deterministic episode of skill ``z`` from the start of seed ``start_seed`` (the unit of work that
    :func:`rollout_skills` and the Ray evaluators in ``skill_rl.dist`` share). Returns ``initial_xy``/``final_xy``
    ``(2,)`` (watched object, m), ``features`` (see :func:`~skill_rl.discovery.metrics.trajectory_features`),
    ``grasped``, ``violations`` (a list of per-step ``(4,)`` flags) and ``episode_violation``."""
    from .metrics import trajectory_features
    from .rewards import default_object_keys

    layout = env.obs_layout
    objs = default_object_keys(layout)
    osl, esl = layout[objs[0]], layout["eef_pos"]
    obj_name = objs[0][: -len("_pos")]
    safety = getattr(env, "safety_term", None)
    obs, _ = env.reset(seed=start_seed, options={"skill": z})
    init = obs[osl][:2].copy()
    traj = [np.concatenate([obs[osl], obs[esl]])]
    viols: list[np.ndarray] = []
    g, any_v, done = False, False, False
    while not done:
        action = policy.act(obs) if hasattr(policy, "act") else policy.predict(obs, deterministic=True)[0]
        obs, _, term, trunc, info = env.step(action)
        done = term or trunc
        traj.append(np.concatenate([obs[osl], obs[esl]]))
        if "grasped" in info:
            g = g or bool(info["grasped"])
        elif hasattr(env.unwrapped, "is_grasped"):  # tasks whose info has no "grasped" (Push)
            g = g or bool(env.unwrapped.is_grasped(obj_name))
        if safety is not None:
            arm = any({a, b} == {"arm", "table"} for a, b in info.get("contacts", ()))
            v = safety.violations(obs[None], np.array([arm]))[0]
            viols.append(v)
            any_v = any_v or bool(v.any())
    return {"initial_xy": init, "final_xy": obs[osl][:2].copy(), "features": trajectory_features(np.stack(traj)),
            "grasped": g, "violations": viols, "episode_violation": any_v}


def assemble_rollouts(episodes: Sequence[dict[str, Any]], skill_ids: Sequence[int],
                      starts: Sequence[int]) -> dict[str, Any]:
    """Stack :func:`rollout_episode` results (in job order) into :func:`rollout_skills`' arrays."""
    viols = [v for e in episodes for v in e["violations"]]
    return {"initial_xy": np.array([e["initial_xy"] for e in episodes]),
            "final_xy": np.array([e["final_xy"] for e in episodes]), "skill_ids": np.array(skill_ids),
            "features": np.stack([e["features"] for e in episodes]),
            "grasped": np.array([e["grasped"] for e in episodes]),
            "violations": np.array(viols) if viols else np.zeros((0, 4), bool),
            "episode_violations": np.array([e["episode_violation"] for e in episodes]), "starts": np.array(starts)}


def rollout_skills(policy: Any, env: Any, cfg: DiscoveryConfig, seed: int = 10_000) -> dict[str, Any]:
    """Roll out every evaluated skill ``eval_episodes_per_skill`` times, deterministically; episode ``e`` of
    every skill starts from the same state (``seed + e``). Returns arrays: ``initial_xy``/``final_xy``
    ``(N, 2)`` (watched object, m), ``skill_ids`` ``(N,)``, ``features`` ``(N, F)`` (object + end-effector
    positions at 4 times, see :func:`~skill_rl.discovery.metrics.trajectory_features`), ``grasped``
    ``(N,)``, ``violations`` (per-step, stacked, ``(T_total, 4)``), ``episode_violations`` ``(N,)``, ``starts``
    ``(N,)`` (the start index ``e``; the distinctness classifier leaves one start out at a time)."""
    from .rewards import default_object_keys

    if not default_object_keys(env.obs_layout):
        return {}
    episodes, ids, starts = [], [], []
    for sid, z in eval_skills_list(env, cfg, seed):
        for ep in range(cfg.eval_episodes_per_skill):
            episodes.append(rollout_episode(policy, env, z, seed + ep))  # same start for every skill
            ids.append(sid)
            starts.append(ep)
    return assemble_rollouts(episodes, ids, starts)


def evaluate_skills(policy: Any, env: Any, cfg: DiscoveryConfig, seed: int = 10_000,
                    rollouts: dict[str, Any] | None = None) -> dict[str, float]:
    """:func:`skill_rl.discovery.metrics.summarize` of :func:`rollout_skills` (or of ``rollouts`` given)."""
    from .metrics import summarize

    r = rollouts if rollouts is not None else rollout_skills(policy, env, cfg, seed)
    if not r:
        return {}
    return summarize(r["initial_xy"], r["final_xy"], r["skill_ids"], r["violations"], r["grasped"],
                     features=r["features"], episode_violations=r["episode_violations"], groups=r["starts"])
