"""Scripted demonstrations for a suite, stored in the play dataset format (robomimic-layout HDF5).

One file per task, ``<demos_dir>/<task>.hdf5``, written by :class:`~skill_rl.play.dataset.PlayDatasetWriter`
(atomic, chunked, gzip): ``data/demo_i/{obs/<field>, next_obs/<field>, actions, rewards, dones, states}``;
``env_args`` holds the suite, task name, language instruction, env factory and ``obs_layout``, and for the
tabletop tasks robomimic's ``env_name``/``type``/``env_kwargs`` (its env tools recreate the env from them).
Rewards are 1 on success steps; dones are 1 on success steps and on the last step (robomimic's done_mode 2).
``actions`` are the demonstrator's (the labels); with DART noise the env executed ``executed_actions``,
which is what reproduces the recorded states (robomimic's ``playback_dataset --use-actions`` replays
``actions``, so it reports divergence on noisy demos).
``states`` rows are the env's ``sim_state()`` (exact replay). Only successful episodes are
kept (the scripted demonstrator is retried with new seeds), trimmed ``tail_steps`` after the first success.

:func:`load_task_data` reads them back (validated by ``read_play_dataset``) into the suite's common
observation layout: the union of every task's fields in suite order, zeros where a task lacks a field
(e.g. an object absent from that scene), so one policy serves every task.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skill_rl.errors import UserError
from skill_rl.play.dataset import PlayDatasetWriter, read_play_dataset, robomimic_env_args

from .suites import Suite, SuiteTask

__all__ = ["DemosConfig", "ObsSchema", "DemoError", "make_suite_demos", "demo_path", "generate_demos", "load_task_data", "suite_schema"]

DEMO_SEED_BASE = 1_000_000  # demos use seeds 1e6 + i; evaluation uses seeds 2e6 + r: never the same scene


class DemoError(UserError, ValueError):
    """Demonstrations are missing or the demonstrator fails too often."""


def demo_path(demos_dir: str | Path, task: SuiteTask) -> Path:
    """``<demos_dir>/<task name>.hdf5`` (by name, not position, so any task order finds its demos)."""
    return Path(demos_dir) / f"{task.name}.hdf5"


def _env_state(env: Any) -> np.ndarray:
    """The env's replay state: ``sim_state()`` (tabletop: qpos, qvel, the rest of MuJoCo's state and the
    controller's target; LIBERO: the simulator's flattened state), else qpos ++ qvel."""
    base = env.unwrapped
    if hasattr(base, "sim_state"):
        return base.sim_state()
    return np.concatenate([base.data.qpos, base.data.qvel]).astype(np.float64)


def record_demo(env: Any, demonstrator: Any, seed: int, max_steps: int, tail_steps: int = 5,
                action_noise: float = 0.0) -> dict[str, Any] | None:
    """One scripted episode; the arrays if it succeeded (trimmed ``tail_steps`` after success), else None.

    ``action_noise`` > 0 perturbs the *executed* motion (all dims but the gripper) with Gaussian noise of that
    std while the *recorded* action stays the demonstrator's (DART, Laskey et al. 2017): the closed-loop
    demonstrator corrects the drift, so the demos show how to recover from the small errors a cloned policy
    makes, instead of one narrow tube of states.
    """
    obs, info = env.reset(seed=seed)
    demonstrator.reset()
    rng = np.random.default_rng(seed)
    rows, acts, executed_acts, states, rewards = [], [], [], [], []
    success_at = None
    for t in range(max_steps):
        action = np.asarray(demonstrator.act(obs), np.float32)
        rows.append(np.asarray(obs, np.float32))
        states.append(_env_state(env))
        acts.append(action)
        executed = action
        if action_noise > 0:
            executed = action.copy()
            executed[:-1] = np.clip(executed[:-1] + rng.normal(0.0, action_noise, action.shape[0] - 1), -1.0, 1.0)
        executed_acts.append(executed)
        obs, reward, terminated, truncated, info = env.step(executed)
        rewards.append(float(info.get("is_success", False)))
        if info.get("is_success") and success_at is None:
            success_at = t
        if success_at is not None and t - success_at >= tail_steps:
            break
        if terminated or truncated:
            break
    if success_at is None:
        return None
    rewards_a = np.asarray(rewards, np.float32)
    dones = (rewards_a > 0).astype(np.uint8)  # robomimic's done_mode 2: done on success and at the end
    dones[-1] = 1
    out = {"obs": np.stack(rows), "actions": np.stack(acts), "states": np.stack(states),
           "rewards": rewards_a, "dones": dones, "final_obs": np.asarray(obs, np.float32)}
    if action_noise > 0:  # what reproduces the states (robomimic's playback from actions needs these)
        out["executed_actions"] = np.stack(executed_acts)
    return out


def generate_demos(suite: Suite, demos_dir: str | Path, n_demos: int = 50, *, max_steps: int = 600,
                   max_attempts_factor: float = 3.0, overwrite: bool = False, progress: bool = True,
                   action_noise: float = 0.1) -> dict[str, Any]:
    """Write ``n_demos`` successful scripted demonstrations per task; returns per-task statistics.

    Existing complete files are kept unless ``overwrite``. A task whose demonstrator succeeds on fewer than
    ``n_demos`` of ``n_demos * max_attempts_factor`` seeds raises :class:`DemoError` (nothing is written for it).
    """
    from tqdm.auto import tqdm

    demos_dir = Path(demos_dir)
    stats: dict[str, Any] = {}
    bar = tqdm(total=len(suite) * n_demos, desc=f"demos {suite.name}", unit="demo", disable=not progress)
    for k, task in enumerate(suite.tasks):
        path = demo_path(demos_dir, task)
        if path.exists() and not overwrite:
            try:
                have = len(read_play_dataset(path, load_states=False).demo_names)
            except UserError:
                have = -1
            if have >= n_demos:
                stats[task.name] = {"path": str(path), "demos": have, "attempts": 0, "kept": True}
                bar.update(n_demos)
                continue
        env = task.factory.make(max_episode_steps=max_steps)
        demonstrator = task.factory.demonstrator(env)
        layout = {key: [s.start, s.stop] for key, s in env.unwrapped.obs_layout.items()}
        env_args = {"env_id": task.factory.source, "env_kind": task.factory.kind,
                    "env_kwargs": {**dict(task.factory.options), "max_episode_steps": max_steps},
                    "obs_layout": layout, "suite": suite.name, "task": task.name, "task_index": k,
                    "language": task.language, "factory": asdict(task.factory), "action_noise": action_noise,
                    "max_episode_steps": max_steps}
        options = dict(task.factory.options)
        if task.factory.kind == "task_file":
            env_args["task_file_content"] = Path(task.factory.source).read_text(encoding="utf-8")
            env_args.update(robomimic_env_args(None, options, task_text=env_args["task_file_content"]))
        elif task.factory.kind == "env_id" and hasattr(env.unwrapped, "set_sim_state"):
            env_args.update(robomimic_env_args(task.factory.source, options))
        if hasattr(env.unwrapped, "state_layout"):
            env_args["state_layout"] = env.unwrapped.state_layout
        max_attempts = int(np.ceil(n_demos * max_attempts_factor))
        lengths = []
        attempts = 0
        with PlayDatasetWriter(path, env_args=env_args) as writer:
            while writer.num_episodes < n_demos:
                if attempts >= max_attempts:
                    raise DemoError(f"{suite.name}/{task.name}: the scripted demonstrator succeeded on only "
                                    f"{writer.num_episodes} of {attempts} seeds (need {n_demos}); nothing written")
                seed = DEMO_SEED_BASE + attempts
                attempts += 1
                ep = record_demo(env, demonstrator, seed, max_steps, action_noise=action_noise)
                if ep is None:
                    continue
                writer.add_episode(obs=ep["obs"], actions=ep["actions"], rewards=ep["rewards"], dones=ep["dones"],
                                   states=ep["states"], final_obs=ep["final_obs"], attrs={"seed": seed},
                                   extra={k: ep[k] for k in ("executed_actions",) if k in ep})
                lengths.append(len(ep["actions"]))
                bar.update(1)
        env.close()
        stats[task.name] = {"path": str(path), "demos": n_demos, "attempts": attempts,
                            "success_rate": n_demos / attempts, "mean_length": float(np.mean(lengths)), "kept": False}
    bar.close()
    return stats


class ObsSchema:
    """The suite's common observation layout: ``fields`` = [(key, width), ...] in order."""

    def __init__(self, fields: Sequence[tuple[str, int]]) -> None:
        self.fields = [(str(k), int(w)) for k, w in fields]
        self.slices: dict[str, slice] = {}
        start = 0
        for k, w in self.fields:
            self.slices[k] = slice(start, start + w)
            start += w
        self.dim = start

    @staticmethod
    def union(layouts: Sequence[dict[str, Any]]) -> ObsSchema:
        fields: dict[str, int] = {}
        for layout in layouts:
            for key, sl in layout.items():
                a, b = (sl.start, sl.stop) if isinstance(sl, slice) else sl
                w = int(b) - int(a)
                if key in fields and fields[key] != w:
                    raise DemoError(f"obs field {key!r} has width {w} in one task and {fields[key]} in another")
                fields.setdefault(key, w)
        return ObsSchema(list(fields.items()))

    def from_fields(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """(T, dim) from ``{key: (T, w)}``; fields not given are zero."""
        n = next(iter(obs.values())).shape[0]
        out = np.zeros((n, self.dim), np.float32)
        for key, arr in obs.items():
            if key in self.slices:
                out[:, self.slices[key]] = arr.reshape(n, -1)
        return out

    def from_flat(self, flat: np.ndarray, layout: dict[str, slice]) -> np.ndarray:
        """(B, dim) from an env's flat observation(s) and its ``obs_layout``."""
        flat = np.atleast_2d(np.asarray(flat, np.float32))
        return self.from_fields({k: flat[:, s] for k, s in layout.items()})

    def to_json(self) -> list[list[Any]]:
        return [[k, w] for k, w in self.fields]


def env_schema(suite: Suite) -> ObsSchema:
    """Union of the tasks' obs layouts read from the envs themselves (no demos needed; suite order)."""
    layouts = []
    for task in suite.tasks:
        env = task.factory.make()
        try:
            layouts.append(env.unwrapped.obs_layout)
        finally:
            env.close()
    return ObsSchema.union(layouts)


def suite_schema(suite: Suite, demos_dir: str | Path) -> ObsSchema:
    """Union of the tasks' obs layouts, read from the demo files' ``env_args`` (suite order)."""
    import h5py

    layouts = []
    for task in suite.tasks:
        path = demo_path(demos_dir, task)
        if not path.exists():
            raise DemoError(f"no demonstrations for {suite.name}/{task.name} at {path}: run "
                            f"`skill-rl lifelong demos --suite {suite.name}` first (or pass --debug)")
        with h5py.File(path, "r") as f:
            layouts.append(json.loads(f["data"].attrs["env_args"])["obs_layout"])
    return ObsSchema.union(layouts)


def load_task_data(suite: Suite, demos_dir: str | Path, k: int, schema: ObsSchema, history: int, text_dim: int,
                   n_demos: int = 0) -> Any:
    """Task ``k``'s demos as a :class:`~skill_rl.lifelong.algos.TaskData` in the common layout
    (the first ``n_demos`` demos; 0 = all)."""
    from .algos import TaskData
    from .policies import text_features

    task = suite.tasks[k]
    data = read_play_dataset(demo_path(demos_dir, task), load_states=False)
    n_ep = len(data.demo_names) if n_demos <= 0 else min(n_demos, len(data.demo_names))
    end = int(data.episode_ends[n_ep - 1])
    obs = schema.from_fields({key: v[:end] for key, v in data.obs.items()})
    return TaskData.from_episodes(obs, data.actions[:end], data.episode_starts[:n_ep], data.episode_ends[:n_ep],
                                  history, k, text_features(task.language, text_dim), task.language)


@dataclass
class DemosConfig:
    """Settings of ``skill-rl lifelong demos``."""

    suite: str = "tabletop-object"
    suite_root: str = ""  # a folder of *.task files instead of tasks/suites/<suite>/
    n_demos: int = 50
    n_tasks: int = 0  # 0 = all
    demos_dir: str = ""  # "" = runs/lifelong-demos/<suite>
    max_steps: int = 600
    action_noise: float = 0.1  # std of the executed-action perturbation (DART); recorded actions stay clean
    overwrite: bool = False
    debug: bool = False  # tiny: 2 tasks x 2 demos into runs/lifelong-demos/<suite>-debug


def make_suite_demos(cfg: DemosConfig, progress: bool = True) -> dict[str, Any]:
    """Generate a suite's demonstrations (see :func:`generate_demos`); returns the folder and per-task stats."""
    import time

    from .suites import get_suite

    suite = get_suite(cfg.suite, cfg.suite_root or None)
    n_tasks, n_demos = (cfg.n_tasks, cfg.n_demos) if not cfg.debug else (2, min(cfg.n_demos, 2))
    suite = suite.subset(n_tasks)
    folder = Path(cfg.demos_dir) if cfg.demos_dir else Path("runs") / "lifelong-demos" / (
        suite.name + ("-debug" if cfg.debug else ""))
    t0 = time.perf_counter()
    stats = generate_demos(suite, folder, n_demos, max_steps=cfg.max_steps, overwrite=cfg.overwrite,
                           progress=progress, action_noise=cfg.action_noise)
    return {"suite": suite.name, "demos_dir": str(folder), "n_demos": n_demos, "tasks": stats,
            "wall_s": round(time.perf_counter() - t0, 2)}
