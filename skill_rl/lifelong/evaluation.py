"""Closed-loop success evaluation of a task-conditioned policy: rollouts in lock step, batched forward.

Rollout ``r`` of a task always starts from the scene of seed ``EVAL_SEED_BASE + r`` (fixed initial states,
like LIBERO's init files, never a demo's seed). Success counts if the goal holds at any step (LIBERO ends
the episode on success). The ``n`` rollouts of a task run side by side, so each control step is one batched
policy forward pass.

Evaluating several tasks is embarrassingly parallel: :class:`Evaluator` with ``workers > 1`` runs tasks in
separate processes (spawned; a worker rebuilds the policy from its state dict), or with ``backend="ray"``
(Ray installed: extra ``dist``) on long-lived Ray actors (:class:`skill_rl.dist.pool.WorkerPool`), which keep
their envs between evaluations; it joins a Ray already running in this process (a sweep, a cluster) or starts
a local one and shuts it down in :meth:`Evaluator.close`. Both give the in-process results for the same policy.
"""

from __future__ import annotations

import collections
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from skill_rl.errors import UserError

from .demos import ObsSchema
from .suites import TaskEnvFactory

__all__ = ["EVAL_SEED_BASE", "Evaluator", "rollout_stats", "rollout_success"]

EVAL_SEED_BASE = 2_000_000


def rollout_success(policy: Any, factory: TaskEnvFactory, schema: ObsSchema, task_id: int, text: np.ndarray,
                    n_rollouts: int, max_steps: int, envs: list[Any] | None = None) -> float:
    """Success rate of ``policy`` (a TaskPolicy in eval mode) over ``n_rollouts`` fixed initial states."""
    return rollout_stats(policy, factory, schema, task_id, text, n_rollouts, max_steps, envs)["success"]


def rollout_stats(policy: Any, factory: TaskEnvFactory, schema: ObsSchema, task_id: int, text: np.ndarray,
                  n_rollouts: int, max_steps: int, envs: list[Any] | None = None) -> dict[str, float]:
    """``success`` rate, mean ``steps`` and ``action_sum`` (a fingerprint of what the policy did)."""
    import torch

    if n_rollouts < 1:
        raise ValueError("n_rollouts must be >= 1")
    envs = envs if envs is not None else [factory.make(max_episode_steps=max_steps) for _ in range(n_rollouts)]
    layout = envs[0].unwrapped.obs_layout
    history = policy.cfg.history
    frames: list[collections.deque] = []
    for r, env in enumerate(envs[:n_rollouts]):
        obs, _ = env.reset(seed=EVAL_SEED_BASE + r)
        first = schema.from_flat(obs, layout)[0]
        frames.append(collections.deque([first] * history, maxlen=history))
    active = np.ones(n_rollouts, bool)
    success = np.zeros(n_rollouts, bool)
    steps = np.zeros(n_rollouts, int)
    action_sum = 0.0
    ids = torch.full((n_rollouts,), task_id, dtype=torch.int64)
    txt = torch.as_tensor(np.broadcast_to(text, (n_rollouts, len(text))).copy())
    for _ in range(max_steps):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        obs_b = torch.as_tensor(np.stack([np.stack(frames[i]) for i in idx]))
        with torch.no_grad():
            actions = policy.act(obs_b, ids[idx], txt[idx]).numpy()
        action_sum += float(actions.astype(np.float64).sum())
        for j, i in enumerate(idx):
            obs, _, terminated, truncated, info = envs[i].step(actions[j])
            steps[i] += 1
            frames[i].append(schema.from_flat(obs, layout)[0])
            if info.get("is_success"):
                success[i] = True
                active[i] = False
            elif terminated or truncated:
                active[i] = False
    return {"success": float(success.mean()), "steps": float(steps.mean()), "action_sum": action_sum}


def _worker_eval(policy_cfg: dict, state: dict, factory: TaskEnvFactory, schema_fields: list, task_id: int,
                 text: np.ndarray, n_rollouts: int, max_steps: int) -> dict[str, float]:
    import torch

    from .policies import PolicyConfig, TaskPolicy

    torch.set_num_threads(1)
    policy = TaskPolicy(PolicyConfig(**policy_cfg))
    policy.load_state_dict(state)
    policy.eval()
    return rollout_stats(policy, factory, ObsSchema(schema_fields), task_id, text, n_rollouts, max_steps)


class EvalBackendError(UserError, ValueError):
    """``eval_backend`` names no evaluation backend."""


class _RayEvalWorker:
    """A Ray actor for ``eval_backend=ray``: like a worker process, but long-lived, so it keeps its envs per
    task between evaluations (as the in-process path does) instead of rebuilding them for every call."""

    def __init__(self) -> None:
        import torch

        torch.set_num_threads(1)
        self._envs: dict[TaskEnvFactory, list[Any]] = {}

    def evaluate(self, job: tuple) -> dict[str, float]:
        from .policies import PolicyConfig, TaskPolicy

        policy_cfg, state, factory, schema_fields, task_id, text, n_rollouts, max_steps = job
        policy = TaskPolicy(PolicyConfig(**policy_cfg))
        policy.load_state_dict(state)
        policy.eval()
        envs = self._envs.get(factory)
        if envs is None or len(envs) < n_rollouts:
            envs = self._envs[factory] = [factory.make(max_episode_steps=max_steps) for _ in range(n_rollouts)]
        return rollout_stats(policy, factory, ObsSchema(schema_fields), task_id, text, n_rollouts, max_steps, envs)


class Evaluator:
    """Evaluates a policy on tasks, in this process (``workers <= 1``, envs cached per task) or in parallel."""

    def __init__(self, schema: ObsSchema, n_rollouts: int, max_steps: int, workers: int = 1,
                 backend: str = "process") -> None:
        self.schema, self.n_rollouts, self.max_steps = schema, int(n_rollouts), int(max_steps)
        self.workers, self.backend = int(workers), backend
        self._envs: dict[TaskEnvFactory, list[Any]] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._ray: Any = None  # a skill_rl.dist.pool.WorkerPool of _RayEvalWorker actors, made on first use
        self._ray_started = False
        if backend not in ("process", "ray"):
            raise EvalBackendError(f"eval_backend must be 'process' or 'ray', got {backend!r}")
        if self.workers > 1 and backend == "ray":
            try:
                import ray
            except ImportError:
                warnings.warn("eval_backend=ray but Ray is not installed (extra: dist): using processes", stacklevel=2)
                self.backend = "process"  # Ray is optional (extra: dist)
            else:
                if not ray.is_initialized():  # joins a running Ray (a sweep's, a cluster's) as it is
                    ray.init(address="local", num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
                    self._ray_started = True

    def evaluate(self, algo: Any, tasks: Sequence[tuple[int, TaskEnvFactory, np.ndarray]]) -> list[float]:
        """Success rate per ``(task_id, factory, text)``, with the algorithm's evaluation setup for each task."""
        return [s["success"] for s in self.evaluate_stats(algo, tasks)]

    def evaluate_stats(self, algo: Any, tasks: Sequence[tuple[int, TaskEnvFactory, np.ndarray]]) -> list[dict]:
        """:func:`rollout_stats` per task (success, mean steps, action fingerprint)."""
        if self.workers <= 1 or len(tasks) <= 1:
            out = []
            for task_id, factory, text in tasks:
                envs = self._envs.get(factory)
                if envs is None:
                    envs = [factory.make(max_episode_steps=self.max_steps) for _ in range(self.n_rollouts)]
                    self._envs[factory] = envs
                with algo.evaluating(task_id) as policy:
                    out.append(rollout_stats(policy, factory, self.schema, task_id, text, self.n_rollouts,
                                             self.max_steps, envs))
            return out
        jobs = []
        cfg = algo.policy.cfg.to_dict()
        for task_id, factory, text in tasks:
            with algo.evaluating(task_id) as policy:
                state = {k: v.detach().clone() for k, v in policy.state_dict().items()}
            args = (cfg, state, factory, self.schema.fields, task_id, text, self.n_rollouts, self.max_steps)
            jobs.append(args)
        if self.backend == "ray":
            if self._ray is None:
                from skill_rl.dist.pool import WorkerPool

                self._ray = WorkerPool(_RayEvalWorker, self.workers)
            return self._ray.map("evaluate", jobs)
        if self._pool is None:
            import multiprocessing as mp

            self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"))
        return list(self._pool.map(_worker_eval, *zip(*jobs, strict=True)))

    def close(self) -> None:
        for envs in self._envs.values():
            for env in envs:
                env.close()
        self._envs.clear()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        if self._ray is not None:
            self._ray.close()
            self._ray = None
        if self._ray_started:
            import ray

            ray.shutdown()
            self._ray_started = False
