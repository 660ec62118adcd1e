"""The simulated world behind the sim graph's arm: a tabletop task's MuJoCo physics as an ``ArmHAL`` backend.

``TabletopSceneArm`` is ``skill_rl.hardware``'s ``MujocoArm`` (same Panda, same position servos, same
gripper, same safety filter in front) whose physics is a tabletop task env's (``TabletopPickPlace-v0``
...), so the task's objects exist in the arm's world and move when the arm moves them. The env is used
only as the world: its model/data are the arm's, its ``reset(seed)`` places the objects, and its
observation function reports the world's state (``scene_state()``), which the ``arm_hal`` node publishes
as a simulated perception stream. Commands reach the physics only through ``ArmHAL.write`` (the filter);
nothing here calls ``env.step``.

No rclpy here: the class is usable (and tested) without ROS.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from skill_rl.hardware.backends.mujoco import MujocoArm, MujocoGripper
from skill_rl.hardware.description import RobotDescription
from skill_rl.hardware.safety import SafetyConfig
from skill_rl.hardware.types import HalError, HalState, HalStateError

__all__ = ["DEFAULT_TASK", "TabletopSceneArm", "make_world_env"]

DEFAULT_TASK = "TabletopPickPlace-v0"
#: Finger speed of the simulated scene's gripper, m/s of opening. The tabletop envs move the finger servo's target
#: in one step (the fingers shut in ~50 ms, ~1 m/s); the scene arm must act as the env its skills were trained in,
#: so its gripper is not slowed to the real Franka Hand's 0.1 m/s (the robot description's). Measured: a BC lift
#: trained in the env succeeded 9/10 on this arm at this speed and 0/10 at 0.1 m/s (it lifts before the fingers
#: have closed). A real hand is 10x slower: see docs/execution.md ("The simulated gripper").
SCENE_GRIPPER_SPEED = 2.0


def make_world_env(world: str, **kwargs: Any) -> Any:
    """The (unwrapped) tabletop env of a world: a registered env id (``TabletopPickPlace-v0``) or a task file
    (``tasks/push_scene_region.task``, or a task name shipped in ``skill_rl.tasks``) whose scene it builds.
    The arm's simulated world and the skill server's kinematic copy are built by this one function, so they
    have the same objects and observation layout."""
    from skill_rl.envs import make, make_task_env

    if str(world).endswith(".task"):
        from skill_rl.planning.tasklang import load_task

        return make_task_env(load_task(world), **kwargs).unwrapped
    return make(world, **kwargs).unwrapped


class TabletopSceneArm(MujocoArm):
    """The MuJoCo tabletop Panda inside a task's scene (see the module docstring).

    task: tabletop env id (``TabletopPickPlace-v0``, ``TabletopPush-v0`` ...); seed: the env's reset seed
    (object placement and the arm's initial posture, home plus the env's small noise).
    """

    backend_name = "mujoco"

    def __init__(self, description: RobotDescription | str | None = None, *, task: str = DEFAULT_TASK, seed: int = 0,
                 safety: Mapping[str, Any] | SafetyConfig | None = None, clock: Callable[[], float] = time.monotonic,
                 auto_step: bool = False, timestep: float = 0.002):
        super().__init__(description, safety=safety, clock=clock, auto_step=auto_step, timestep=timestep)
        gripper = self.description.gripper
        if gripper is not None:  # the env's finger speed, not the real hand's (SCENE_GRIPPER_SPEED)
            self.description = dataclasses.replace(
                self.description, gripper=dataclasses.replace(gripper, max_speed=max(gripper.max_speed, SCENE_GRIPPER_SPEED)))
        self.task_id = str(task)
        self.seed = int(seed)
        self.env = None  # the unwrapped TabletopEnv once configured

    def _on_configure(self) -> None:
        import mujoco

        from skill_rl.envs.tabletop.scene import FINGER_MAX_OPENING

        self._mujoco = mujoco
        env = make_world_env(self.task_id, physics_timestep=self.timestep)
        if not hasattr(env, "obs_layout") or not hasattr(env, "task"):
            raise HalError(f"{self.task_id!r} is not a MuJoCo tabletop env; the scene arm needs one (e.g. {DEFAULT_TASK})")
        env.reset(seed=self.seed)
        m, d = env.model, env.data
        self._bind_panda(m)
        d.ctrl[self._grip_act] = FINGER_MAX_OPENING
        self.model, self.data, self.env = m, d, env
        self._gripper = MujocoGripper(self)
        self.initial_positions = d.qpos[self._qadr].copy()
        self.sim_time = 0.0

    def _on_cleanup(self) -> None:
        if self.env is not None:
            self.env.close()
        self.env = None
        super()._on_cleanup()

    def _on_shutdown(self) -> None:
        self._on_cleanup()

    def _step(self, dt: float) -> None:
        super()._step(dt)
        # mj_step leaves body poses from before its last integration: refresh them for scene_state().
        self._mujoco.mj_kinematics(self.model, self.data)
        self._mujoco.mj_comPos(self.model, self.data)

    def reset_world(self, seed: int | None = None) -> None:
        """Place the objects and the arm as the task env's ``reset(seed)`` does (``seed`` None: the current one
        again). Only while INACTIVE (the node deactivates around it): the servos and the gripper are re-seeded
        at the new posture, so the next ``activate()`` starts from rest without a jump."""
        from skill_rl.envs.tabletop.scene import FINGER_MAX_OPENING

        with self._lock:
            if self.state is not HalState.INACTIVE or self.env is None:
                raise HalStateError(f"reset_world() needs the arm INACTIVE, it is {self.state.name}", self.state,
                                    self.allowed_transitions())
            if seed is not None:
                self.seed = int(seed)
            self.env.reset(seed=self.seed)
            d = self.data
            d.ctrl[self._act] = d.qpos[self._qadr]
            d.ctrl[self._grip_act] = FINGER_MAX_OPENING
            self._gripper = MujocoGripper(self)
            self._mujoco.mj_forward(self.model, d)
            self._last_auto = None

    def object_states(self) -> list[dict[str, Any]]:
        """The task's objects now, as a tracker would report them: ``name``, ``kind``, ``position`` (m, world),
        ``quat_wxyz`` (MuJoCo's order: converted to ROS's xyzw once, at the ROS boundary) and ``opening`` (m,
        drawers; 0 otherwise)."""
        with self._lock:
            env = self.env
            if env is None or self.state in (HalState.UNCONFIGURED, HalState.FINALIZED):
                raise HalError(f"no scene: the arm is {self.state.name}")
            out = []
            for obj in env.task.objects:
                opening = env.joint_pos(f"{obj.name}_slide") if obj.kind == "drawer" else 0.0
                out.append({"name": obj.name, "kind": obj.kind, "position": env.body_pos(obj.name).tolist(),
                            "quat_wxyz": env.body_quat(obj.name).tolist(), "opening": float(opening)})
            return out

    # ------------------------------------------------------------ the world's state (simulated perception)
    def scene_state(self) -> dict[str, Any]:
        """The world now, JSON-ready: ``obs`` (the task env's flat state observation, world frame, m/rad,
        quaternions wxyz as MuJoCo), ``layout`` (field -> [start, stop)), ``task`` (env id), ``success``
        (the task's own success predicate: ground truth of the simulation), ``objects`` (name -> [x, y, z,
        qw, qx, qy, qz]), ``sim_time`` (s), ``gripper_width`` (m)."""
        with self._lock:
            env = self.env
            if env is None or self.state in (HalState.UNCONFIGURED, HalState.FINALIZED):
                raise HalError(f"no scene: the arm is {self.state.name}")
            env._grasp_cache.clear()
            env._contacts = env.contacts()
            obs = env._observation()
            success = bool(env.task.success(env))
            objects = {}
            for obj in env.task.objects:
                if obj.kind in ("cube", "cylinder", "region"):
                    objects[obj.name] = np.concatenate([env.body_pos(obj.name), env.body_quat(obj.name)]).tolist()
            return {
                "task": self.task_id,
                "seed": self.seed,
                "sim_time": float(self.sim_time),
                "obs": np.asarray(obs, dtype=np.float64).tolist(),
                "layout": {k: [s.start, s.stop] for k, s in env.obs_layout.items()},
                "success": success,
                "objects": objects,
                "gripper_width": self.gripper_width(),
            }
