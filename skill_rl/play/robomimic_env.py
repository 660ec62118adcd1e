"""Our tabletop envs for robomimic's env tools: an old-Gym adapter, registered when robomimic's ``gym.make`` imports it.

Why an adapter. robomimic (0.3.0, and its master in 2026) picks the env class from ``env_args["type"]`` among three
hard-coded ones (robosuite, gym, iGibson), with no hook to register another. Its ``EnvGym`` calls
``gym.make(env_name, **env_kwargs)`` from the unmaintained ``gym`` package (not Gymnasium) and then uses:

* the pre-0.26 API: ``reset() -> obs`` and ``step() -> (obs, reward, done, info)``;
* mujoco_py's simulator handle: ``env.unwrapped.sim.set_state_from_flattened(s)``, ``.forward()``,
  ``env.sim.get_state().flatten()``, ``env.sim.model.get_xml()``, plus ``env.unwrapped._get_obs()`` and
  ``env.unwrapped._check_success()``;
* one observation key, ``"flat"`` (the whole vector): our datasets carry ``obs/flat`` as a virtual dataset.

So a dataset's ``env_name`` is ``"skill_rl.play.robomimic_env:TabletopPlay-v0"`` (``type`` 2, gym): ``gym.make``
imports this module first ("module:id" ids), which registers every tabletop id with ``gym`` as
:class:`TabletopGymAdapter`, our Gymnasium env inside. The ids drop the ``skill_rl/`` namespace: robomimic puts
the env name into checkpoint and video file names, where a slash would be a folder. The simulator handle maps to ``TabletopEnv.sim_state`` /
``set_sim_state``, so robomimic's ``playback_dataset`` reproduces a recorded episode exactly, from states and
from actions. ``TaskScene-v0`` takes ``task_text`` (a task file's text) for the lifelong suites' scenes.

Needs the ``robomimic`` extra (robomimic 0.3.0 and gym 0.26.2).
"""

from __future__ import annotations

from typing import Any

import gym
import mujoco
import numpy as np

from .dataset import ROBOMIMIC_TASK_SCENE_ID

__all__ = ["TabletopGymAdapter", "register"]


class _Model:
    def __init__(self, base: Any) -> None:
        self._base = base

    def get_xml(self) -> str:
        return self._base.model_xml


class _Sim:
    """The part of mujoco_py's ``MjSim`` that robomimic's ``EnvGym`` calls, on the env's exact replay state."""

    def __init__(self, adapter: TabletopGymAdapter) -> None:
        self._adapter = adapter
        self.model = _Model(adapter.base)

    def get_state(self) -> np.ndarray:
        return self._adapter.base.sim_state()  # an array: EnvGym calls .flatten() on it

    def set_state_from_flattened(self, state: np.ndarray) -> None:
        self._adapter.last_obs = self._adapter.base.set_sim_state(state)

    def forward(self) -> None:
        mujoco.mj_forward(self._adapter.base.model, self._adapter.base.data)  # derived quantities only


class TabletopGymAdapter(gym.Env):
    """A tabletop Gymnasium env behind the old Gym API that robomimic's ``EnvGym`` uses.

    ``done`` is ``terminated or truncated`` (``info["TimeLimit.truncated"]`` tells them apart); observations are
    the flat state vector (``obs_mode="state"`` only). ``options`` are ``TabletopConfig`` fields.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, env_id: str | None = None, task_text: str | None = None, render_mode: str | None = None,
                 **options: Any) -> None:
        from skill_rl import envs

        if options.get("obs_mode", "state") != "state":
            raise ValueError(f"robomimic's EnvGym observes one flat vector; obs_mode must be 'state', got "
                             f"{options['obs_mode']!r}")
        # robomimic's playback and rollout videos ask for 512 x 512 frames: the offscreen buffer must hold them
        options.setdefault("render_size", (512, 512))
        if task_text is not None:
            from skill_rl.planning.tasklang import parse_task

            env = envs.make_task_env(parse_task(task_text, "<env_kwargs task_text>"), **options)
        elif env_id is not None:
            env = envs.make(env_id, **options)
        else:
            raise ValueError("TabletopGymAdapter needs env_id or task_text")
        self.base = env.unwrapped
        if not hasattr(self.base, "set_sim_state"):
            raise TypeError(f"{env_id}: only the MuJoCo tabletop envs have the exact state robomimic replays")
        box, space = env.action_space, env.observation_space
        self.action_space = gym.spaces.Box(box.low, box.high, dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=space.shape, dtype=np.float32)
        self.metadata = {**self.metadata, "render_fps": int(round(self.base.config.control_freq))}
        self.render_mode = render_mode
        self.sim = _Sim(self)
        self.last_obs: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> np.ndarray:
        self.last_obs, _ = self.base.reset(seed=seed, options=options)
        return self.last_obs.copy()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.base.step(action)
        self.last_obs = obs
        info = {**info, "TimeLimit.truncated": bool(truncated and not terminated)}
        return obs.copy(), float(reward), bool(terminated or truncated), info

    def _get_obs(self) -> np.ndarray:
        if self.last_obs is None:
            raise RuntimeError("no observation yet: reset() or set a state first")
        return self.last_obs.copy()

    def _check_success(self) -> dict[str, bool]:
        return {"task": bool(self.base.task.success(self.base))}

    def render(self, mode: str = "rgb_array", height: int | None = None, width: int | None = None,
               camera_name: str | None = None, **_: Any) -> np.ndarray:
        """An RGB frame from the env's camera (``camera_name`` is ignored: one camera); needs ``MUJOCO_GL``."""
        if mode != "rgb_array":
            raise NotImplementedError(f"render mode {mode!r}: only 'rgb_array' (headless)")
        h, w = self.base.config.render_size
        return self.base._render_camera(height or h, width or w)

    def close(self) -> None:
        self.base.close()


def register() -> None:
    """Register every MuJoCo tabletop id (``Tabletop*-v0``, no namespace) and ``TaskScene-v0`` with ``gym``."""
    from skill_rl import envs

    ids = {k: {"env_id": f"{envs.NAMESPACE}/{k}"} for k in envs.ENV_SPECS if k.startswith("Tabletop")}
    ids[ROBOMIMIC_TASK_SCENE_ID] = {}
    for env_id, kwargs in ids.items():
        if env_id not in gym.envs.registry:
            # No max_episode_steps (gym's TimeLimit needs the 5-tuple step API) and no env checker (it wants
            # gym's own spaces on the inner env): the tabletop envs truncate themselves.
            gym.register(id=env_id, entry_point=f"{__name__}:TabletopGymAdapter", kwargs=kwargs,
                         disable_env_checker=True)


register()
