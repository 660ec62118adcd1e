"""Official LIBERO HDF5 demonstrations -> the play dataset format, in the adapter's observation layout.

LIBERO's files (``<task>_demo.hdf5``: ``data/demo_i/{actions, states, obs/{agentview_rgb, joint_states, ...}}``)
store the flattened MuJoCo state of every step but only robot low-dim observations, not object poses. So
each demo is replayed *state by state* through :class:`~skill_rl.envs.libero_adapter.LiberoTaskEnv`
(``obs_from_state``, LIBERO's own ``regenerate_obs_from_state``), which gives the full low-dim observation
the policies use; actions, rewards and dones are copied. The result is one play-format file per task, named
as the lifelong demos folder expects, so ``skill-rl lifelong run suite=libero_object demos_dir=...`` trains on
the official demonstrations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from skill_rl.play.dataset import PlayDataError, PlayDatasetWriter

from .demos import demo_path
from .suites import get_suite

__all__ = ["import_libero_demos"]


def import_libero_demos(src: str | Path, suite: str, task_index: int, demos_dir: str | Path,
                        max_demos: int = 0) -> Path:
    """Convert an official LIBERO demo file for task ``task_index`` of ``suite``; returns the written path."""
    src = Path(src)
    s = get_suite(suite)
    task = s.tasks[task_index]
    out = demo_path(demos_dir, task)
    env = task.factory.make()
    try:
        with h5py.File(src, "r") as f:
            if "data" not in f:
                raise PlayDataError(f"{src}: no 'data' group (not a LIBERO/robomimic demo file)")
            names = sorted((k for k in f["data"] if k.startswith("demo_")), key=lambda k: int(k.split("_")[1]))
            if max_demos > 0:
                names = names[:max_demos]
            layout = {k: [v.start, v.stop] for k, v in env.obs_layout.items()}
            env_args: dict[str, Any] = {"env_id": task.factory.source, "env_kind": "libero", "obs_layout": layout,
                                        "suite": suite, "task": task.name, "task_index": task_index,
                                        "language": task.language, "source_file": str(src)}
            with PlayDatasetWriter(out, env_args=env_args) as writer:
                for name in names:
                    g = f["data"][name]
                    for key in ("actions", "states"):
                        if key not in g:
                            raise PlayDataError(f"{src}: data/{name} has no '{key}'")
                    states, actions = g["states"][()], g["actions"][()]
                    if len(states) != len(actions):
                        raise PlayDataError(f"{src}: data/{name}: {len(states)} states but {len(actions)} actions")
                    obs = np.stack([env.obs_from_state(st) for st in states])
                    rewards = g["rewards"][()] if "rewards" in g else None
                    dones = g["dones"][()] if "dones" in g else None
                    writer.add_episode(obs=obs, actions=actions, rewards=rewards, dones=dones, states=states,
                                       attrs={"source_demo": name})
    finally:
        env.close()
    return out
