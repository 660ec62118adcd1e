"""SLIM skill evaluation on Ray actors: every skill from several start states, spread over workers.

:func:`rollout_skills_ray` returns exactly what the serial
:func:`skill_rl.discovery.train.rollout_skills` returns for the same policy, config and seed (same arrays,
same order; tested for equality): both run :func:`skill_rl.discovery.train.rollout_episode` per (skill, start),
and each episode is deterministic given its reset seed
``seed + e`` and the deterministic policy, so where it runs does not matter. The driver builds the job list
in the serial order (skill-major), the actors each keep one env (built once) and the policy (sent once per
evaluation through the object store), and :class:`~skill_rl.dist.pool.WorkerPool` returns the episodes in
job order. Why episodes and not skills as jobs: with few skills and 2 workers, per-episode jobs keep both
workers busy to the end.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .pool import WorkerPool, ray_session

__all__ = ["SkillEvalPool", "evaluate_skills_ray", "rollout_skills_ray"]


class _SkillRolloutWorker:
    """A Ray actor: one discovery env (built once), the current policy, episodes on request."""

    def __init__(self, cfg: Any, threads: int = 1) -> None:
        import torch

        from skill_rl.discovery.train import make_env

        torch.set_num_threads(threads)
        self.cfg = cfg
        self.env = make_env(cfg)
        self.policy: Any = None

    def has_objects(self) -> bool:
        from skill_rl.discovery.rewards import default_object_keys

        return bool(default_object_keys(self.env.obs_layout))

    def skills(self, seed: int) -> list[tuple[int, np.ndarray]]:
        from skill_rl.discovery.train import eval_skills_list

        return eval_skills_list(self.env, self.cfg, seed)

    def set_policy(self, policy: Any) -> None:
        self.policy = policy

    def rollout(self, job: tuple[np.ndarray, int]) -> dict[str, Any]:
        from skill_rl.discovery.train import rollout_episode

        z, start_seed = job
        return rollout_episode(self.policy, self.env, z, start_seed)


class SkillEvalPool:
    """``workers`` rollout actors for one discovery config, reusable across evaluations (a benchmark, or
    evaluating many checkpoints). Needs Ray to be initialised; :meth:`close` (or ``with``) kills the actors."""

    def __init__(self, cfg: Any, workers: int = 2, threads_per_worker: int = 1, cpus_per_worker: float = 1) -> None:
        self.cfg = cfg
        self.pool = WorkerPool(_SkillRolloutWorker, workers, cfg, threads_per_worker, num_cpus=cpus_per_worker)

    def rollout_skills(self, policy: Any, seed: int = 10_000) -> dict[str, Any]:
        """Same result as :func:`skill_rl.discovery.train.rollout_skills` ``(policy, env, cfg, seed)``."""
        import ray

        first = self.pool.actors[0]
        if not ray.get(first.has_objects.remote()):
            return {}
        skills = ray.get(first.skills.remote(seed))
        self.pool.broadcast("set_policy", ray.put(policy))
        jobs, ids, starts = [], [], []
        for sid, z in skills:  # the serial order: skill-major, then start index
            for ep in range(self.cfg.eval_episodes_per_skill):
                jobs.append((z, seed + ep))
                ids.append(sid)
                starts.append(ep)
        from skill_rl.discovery.train import assemble_rollouts

        return assemble_rollouts(self.pool.map("rollout", jobs), ids, starts)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> SkillEvalPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rollout_skills_ray(policy: Any, cfg: Any, *, workers: int = 2, seed: int = 10_000,
                       address: str | None = None) -> dict[str, Any]:
    """:func:`skill_rl.discovery.train.rollout_skills` on ``workers`` Ray actors (same arrays, same order).

    Uses the Ray this process is connected to, else joins ``address`` or starts a local Ray for the call."""
    with ray_session(address, num_cpus=workers), SkillEvalPool(cfg, workers) as pool:
        return pool.rollout_skills(policy, seed)


def evaluate_skills_ray(policy: Any, cfg: Any, *, workers: int = 2, seed: int = 10_000,
                        address: str | None = None) -> dict[str, float]:
    """:func:`skill_rl.discovery.train.evaluate_skills` with the rollouts on Ray actors."""
    from skill_rl.discovery.train import evaluate_skills

    rollouts = rollout_skills_ray(policy, cfg, workers=workers, seed=seed, address=address)
    return evaluate_skills(policy, None, cfg, rollouts=rollouts) if rollouts else {}
