"""MujocoArm: the tabletop Panda (``skill_rl.envs.tabletop.scene``) as an arm behind the HAL.

The model is the tabletop scene without objects, built with ``build_scene_xml(SceneSpec(...))``: the same
kinematics, joint limits, PD position servos (``act1..act7``, gravity compensated) and gripper actuator as
the tabletop envs. Filtered joint position setpoints go to the position servos; the gripper's target width
is ramped at the commanded speed onto the gripper actuator. Physics advances with ``step(dt)`` (or
``auto_step=True``). MuJoCo and the scene module are imported when the arm is configured, never at import.

Frames: the HAL reports joint space only; the robot base sits at ``scene.ROBOT_BASE`` in the MuJoCo world,
so a description FK point p (base frame) is at ``p + ROBOT_BASE`` in ``data``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..description import RobotDescription
from ..hal import Gripper
from ..safety import SafetyConfig
from ..types import GripperCommand, HalError
from ._sim import SimulatedArm

__all__ = ["MujocoArm", "MujocoGripper"]


class MujocoGripper(Gripper):
    """The scene's gripper: one position servo on the finger-average tendon (per-finger opening m)."""

    def __init__(self, arm: MujocoArm):
        super().__init__(arm.description.gripper, arm, arm.clock)
        self._arm = arm
        self.target = arm.description.gripper.max_width
        self.speed = arm.description.gripper.max_speed

    def _command_hw(self, cmd: GripperCommand) -> None:
        self.target, self.speed = cmd.width, cmd.speed
        # Actuator force on the tendon (mean of the two fingers) is split 1/2 per finger: 2F squeezes with F.
        self._arm.model.actuator_forcerange[self._arm._grip_act] = (-2.0 * cmd.force, 2.0 * cmd.force)

    def _read_hw(self) -> float:
        return self._arm.gripper_width()

    def advance(self, dt: float) -> None:
        """Ramp the servo's per-finger target towards target/2 at speed/2 (both fingers move)."""
        arm = self._arm
        ctrl = arm.data.ctrl[arm._grip_act]
        lo, hi = arm.model.actuator_ctrlrange[arm._grip_act]
        step = 0.5 * self.speed * dt
        arm.data.ctrl[arm._grip_act] = float(np.clip(ctrl + np.clip(0.5 * self.target - ctrl, -step, step), lo, hi))


class MujocoArm(SimulatedArm):
    """The MuJoCo tabletop Panda. ``timestep``: physics step, s (``step(dt)`` runs round(dt / timestep))."""

    backend_name = "mujoco"

    def __init__(self, description: RobotDescription | str | None = None, *,
                 safety: Mapping[str, Any] | SafetyConfig | None = None, clock: Callable[[], float] = time.monotonic,
                 initial_positions: Any = None, auto_step: bool = False, timestep: float = 0.002):
        super().__init__(description, safety=safety, clock=clock, initial_positions=initial_positions,
                         auto_step=auto_step)
        if self.n_joints != 7:
            raise ValueError(f"the MuJoCo tabletop arm is a 7-joint Panda; description {self.description.name!r} has {self.n_joints}")
        self.timestep = float(timestep)
        # mujoco.MjModel, mujoco.MjData and the mujoco module once configured (mujoco is imported lazily)
        self.model: Any = None
        self.data: Any = None
        self._mujoco: Any = None
        self._gripper: MujocoGripper | None = None

    @property
    def gripper(self) -> MujocoGripper | None:
        return self._gripper

    def gripper_width(self) -> float:
        """Opening between the fingers, m."""
        return float(self.data.qpos[self._finger_adr].sum())

    def finger_positions(self) -> tuple[float, float]:
        """Each finger's own opening, m (their sum is ``gripper_width``): an object held off-centre pushes them
        apart unevenly, and whether the pads touch it (a grasp) depends on each one."""
        a, b = self.data.qpos[self._finger_adr]
        return float(a), float(b)

    def _on_configure(self) -> None:
        import mujoco

        from skill_rl.envs.tabletop.scene import FINGER_MAX_OPENING, SceneSpec, build_scene_xml

        self._mujoco = mujoco
        xml = build_scene_xml(SceneSpec(objects=(), timestep=self.timestep, joint_actuator="position"))
        m = mujoco.MjModel.from_xml_string(xml)
        d = mujoco.MjData(m)
        self._bind_panda(m)
        d.qpos[self._qadr] = self.initial_positions
        d.ctrl[self._act] = self.initial_positions
        d.qpos[self._finger_adr] = FINGER_MAX_OPENING
        d.ctrl[self._grip_act] = FINGER_MAX_OPENING
        mujoco.mj_forward(m, d)
        self.model, self.data = m, d
        self._gripper = MujocoGripper(self)
        self.sim_time = 0.0

    def _bind_panda(self, m) -> None:
        """Index the Panda's joints and actuators in a tabletop-scene model; refuse a model whose joint
        limits differ from the robot description's."""
        joints = [m.joint(f"joint{i + 1}") for i in range(7)]
        self._qadr = np.array([j.qposadr[0] for j in joints])
        self._dadr = np.array([j.dofadr[0] for j in joints])
        self._act = np.array([m.actuator(f"act{i + 1}").id for i in range(7)])
        self._finger_adr = np.array([m.joint(f"finger_joint{i}").qposadr[0] for i in (1, 2)])
        self._grip_act = m.actuator("gripper").id
        lim = self.description.limits
        if not np.allclose(m.jnt_range[[j.id for j in joints]], np.stack([lim.lower, lim.upper], 1), atol=1e-4):
            raise HalError(f"description {self.description.source} joint limits differ from the MuJoCo scene's")

    def _on_cleanup(self) -> None:
        self.model = self.data = self._gripper = None

    def _on_shutdown(self) -> None:
        self.model = self.data = self._gripper = None

    def _step(self, dt: float) -> None:
        n = max(1, int(round(dt / self.timestep)))
        mj_step, gripper = self._mujoco.mj_step, self._gripper
        assert gripper is not None  # the physics steps only between configure and cleanup
        for _ in range(n):
            gripper.advance(self.timestep)
            mj_step(self.model, self.data)

    def _read_sim(self):
        d = self.data
        return d.qpos[self._qadr].copy(), d.qvel[self._dadr].copy(), d.actuator_force[self._act].copy()

    def _write_hw(self, positions: np.ndarray, velocities: np.ndarray) -> None:
        self.data.ctrl[self._act] = positions

    def _hold_hw(self) -> None:
        self.data.ctrl[self._act] = self.data.qpos[self._qadr]
