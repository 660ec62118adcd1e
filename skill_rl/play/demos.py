"""Scripted expert demonstrations of the named play tasks (the per-task BC baseline of the Play-LMP paper).

For a task of :data:`skill_rl.play.tasks.TASKS`, :func:`collect_task_demos` resets the task scene from
candidate seeds (``task_seed(task, seed, k)``: with ``seed`` != the evaluation seed the starts are disjoint
from the evaluation episodes), keeps the starts :func:`~skill_rl.play.tasks.start_ok` accepts and runs the
task's scripted success (the player's own primitive, :func:`~skill_rl.play.tasks.scripted_primitive`) with
Gaussian noise of std ``action_noise`` on the 6 motion dims of the *executed* action. By default
(``record="intended"``, DART: Laskey et al. 2017) the *recorded* action is the primitive's noise-free one, so
the demos show the expert correcting the drift the noise causes, with clean labels; ``record="executed"``
records the noisy action that was sent (the play data's convention before issue 18). A demo is kept only if it reaches the task's predicate; it ends where the noise-free
task goal is taken (lift: at the first success; others: when the primitive has finished) and gets one more
row: the final observation with a "stay" action (no motion, gripper unchanged), so that the demo's last
observation, its goal, is part of it. Each demo's ``first_success`` attribute is the row whose observation is
the first where the task's goal holds (``skill_rl.play.ladder`` can train on the demo up to there).

The demos are written in the play dataset layout (:class:`~skill_rl.play.dataset.PlayDatasetWriter`, same
``env_args`` as ``TabletopPlay-v0``), so :func:`skill_rl.play.train.train_play` trains on them unchanged;
with ``goal="end"`` every window's goal is its demo's final observation, i.e. a single-task BC policy
conditioned on that task's goals.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .dataset import PlayDatasetWriter, layout_to_json
from .tasks import PlayTask, make_play_env, reset_task, scripted_primitive, start_ok, task_seed, task_success

__all__ = ["collect_task_demos"]


def _start_record(env: Any) -> dict[str, np.ndarray]:
    from skill_rl.envs.tabletop.play import FREE_OBJECTS

    return {o: env.body_pos(o).copy() for o in FREE_OBJECTS}


def _demo(task: PlayTask, env: Any, seed: int, rng: np.random.Generator, action_noise: float,
          record: str = "intended") -> tuple[np.ndarray, np.ndarray, int] | None:
    """(obs, actions, first_success) of one demo, or None; ``first_success``: the row whose observation is the
    first in which the task's goal holds (a place holds once released, long before the retreat ends)."""
    obs = reset_task(task, env, seed)
    if not start_ok(task, env):
        return None
    start = _start_record(env)
    prim = scripted_primitive(task, env)
    obs_rows, act_rows = [], []
    done, first_success = False, -1
    for _ in range(task.script_budget):
        intended = np.clip(np.asarray(prim.act(obs), dtype=np.float64), -1.0, 1.0)
        a = intended.copy()
        if action_noise > 0:
            a[:6] += rng.normal(0.0, action_noise, size=6)
        a = np.clip(a, -1.0, 1.0).astype(np.float32)
        obs_rows.append(obs.copy())
        act_rows.append(intended.astype(np.float32) if record == "intended" else a)
        obs, *_ = env.step(a)
        if first_success < 0 and task_success(task, env, start):
            first_success = len(act_rows)
        if task.stop_on_success and first_success >= 0:
            done = True
            break
        if prim.finished(obs):
            done = not task.stop_on_success
            break
    if not done or not task_success(task, env, start):
        return None
    stay = np.zeros_like(act_rows[-1])
    stay[6:] = act_rows[-1][6:]
    obs_rows.append(obs.copy())
    act_rows.append(stay)
    return np.asarray(obs_rows, np.float32), np.asarray(act_rows, np.float32), first_success


def collect_task_demos(task: PlayTask, path: str | os.PathLike[str], n: int, *, seed: int = 1,
                       action_noise: float = 0.1, max_tries: int | None = None, record: str = "intended"
                       ) -> dict[str, Any]:
    """Write ``n`` successful noisy scripted demos of ``task`` to ``path`` (play layout); return a summary
    (``dataset``, ``demos``, ``steps``, ``candidates_tried``). ``record``: ``intended`` (DART, default) or
    ``executed`` (see the module docstring). Raises RuntimeError if fewer than ``n`` succeed within
    ``max_tries`` candidate seeds (default ``max(100, 40 n)``)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if record not in ("intended", "executed"):
        raise ValueError(f"record must be 'intended' or 'executed', got {record!r}")
    max_tries = max_tries or max(100, 40 * n)
    env = make_play_env()
    rng = np.random.default_rng([seed, zlib.crc32(task.name.encode())])
    env_args = {"env_id": "skill_rl/TabletopPlay-v0", "env_name": "TabletopPlay-v0", "type": "skill_rl",
                "env_kwargs": {}, "obs_layout": layout_to_json(env.obs_layout),
                "control_freq": env.config.control_freq, "demos_of_task": task.name,
                "action_noise": action_noise, "recorded_action": record}
    kept, steps, tried = 0, 0, 0
    try:
        with PlayDatasetWriter(Path(path), env_args, compression=None) as writer:
            for k in range(max_tries):
                if kept == n:
                    break
                tried += 1
                s = task_seed(task, seed, k)
                out = _demo(task, env, s, rng, action_noise, record)
                if out is None:
                    continue
                writer.add_episode(out[0], out[1], attrs={"seed": s, "task": task.name, "first_success": out[2]})
                kept += 1
                steps += len(out[1])
            if kept < n:
                raise RuntimeError(f"task {task.name}: only {kept} of {n} demos succeeded in {tried} candidate seeds")
    finally:
        env.close()
    return {"dataset": str(path), "task": task.name, "demos": kept, "steps": steps, "candidates_tried": tried}
