"""PybulletArm: pybullet's Panda (``franka_panda/panda.urdf`` from pybullet_data) behind the HAL.

A private ``DIRECT`` physics client per arm (several arms in one process are independent); the robot base
is at the origin of the pybullet world, so world = base frame. Filtered setpoints go to pybullet's
position motors (target position and velocity, force capped at the description's effort limits); the two
finger joints follow half the commanded width each, at half the commanded speed. ``step(dt)`` runs
round(dt / timestep) physics steps. pybullet is imported when the arm is configured, never at import
(it ships with the ``sim`` extra).
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

__all__ = ["PybulletArm", "PybulletGripper"]

FINGER_JOINT_NAMES = ("panda_finger_joint1", "panda_finger_joint2")
HAND_LINK_NAME = "panda_hand"


class PybulletGripper(Gripper):
    """Both finger joints position-controlled to width/2 at speed/2, each with at most the force."""

    def __init__(self, arm: PybulletArm):
        super().__init__(arm.description.gripper, arm, arm.clock)
        self._arm = arm

    def _command_hw(self, cmd: GripperCommand) -> None:
        arm = self._arm
        for j in arm._fingers:
            arm._pb.setJointMotorControl2(arm.robot, j, arm._pb.POSITION_CONTROL, targetPosition=cmd.width / 2,
                                          force=cmd.force, maxVelocity=cmd.speed / 2, physicsClientId=arm.client_id)

    def _read_hw(self) -> float:
        arm = self._arm
        states = arm._pb.getJointStates(arm.robot, arm._fingers, physicsClientId=arm.client_id)
        return float(sum(s[0] for s in states))


class PybulletArm(SimulatedArm):
    """pybullet's Panda. ``timestep``: physics step, s (default 2 ms, so a 100 Hz cycle is 5 steps).

    position_gain / velocity_gain: pybullet's motor gains (its defaults, 0.1 and 1.0; higher position gains
    oscillate at this step). motor_force_scale: the motors' force cap is the description's effort limits
    times this. At 1.0 the 12 N m wrist motors saturate under the arm's own inertial coupling when the
    filter uses the full datasheet accelerations, and the wrist drifts up to 0.4 rad off its setpoint
    (pybullet motors are velocity constraints, the URDF inertias are not Franka's); 3.0 tracks within
    0.03 rad, as the MuJoCo scene's gravity-compensated servos do.
    """

    backend_name = "pybullet"

    def __init__(self, description: RobotDescription | str | None = None, *,
                 safety: Mapping[str, Any] | SafetyConfig | None = None, clock: Callable[[], float] = time.monotonic,
                 initial_positions: Any = None, auto_step: bool = False, timestep: float = 0.002,
                 position_gain: float = 0.1, velocity_gain: float = 1.0, motor_force_scale: float = 3.0):
        super().__init__(description, safety=safety, clock=clock, initial_positions=initial_positions,
                         auto_step=auto_step)
        self.timestep = float(timestep)
        self.position_gain = float(position_gain)
        self.velocity_gain = float(velocity_gain)
        if not motor_force_scale > 0:
            raise ValueError(f"motor_force_scale must be > 0, got {motor_force_scale!r}")
        self.motor_force_scale = float(motor_force_scale)
        self._pb: Any = None  # the pybullet module once configured (imported lazily)
        self.client_id: int | None = None
        self.robot: int | None = None
        self._gripper: PybulletGripper | None = None

    @property
    def gripper(self) -> PybulletGripper | None:
        return self._gripper

    def _on_configure(self) -> None:
        try:
            import pybullet
            import pybullet_data
        except ImportError as e:  # pragma: no cover - only without the extra
            raise HalError(f"the pybullet arm needs pybullet: pip install 'skill-rl[sim]' ({e})") from e
        pb = self._pb = pybullet
        cid = pb.connect(pb.DIRECT)
        try:
            pb.setGravity(0, 0, -9.81, physicsClientId=cid)
            pb.setPhysicsEngineParameter(fixedTimeStep=self.timestep, numSubSteps=0, physicsClientId=cid)
            robot = pb.loadURDF(f"{pybullet_data.getDataPath()}/franka_panda/panda.urdf", [0, 0, 0],
                                useFixedBase=True, flags=pb.URDF_USE_INERTIA_FROM_FILE, physicsClientId=cid)
            index = {pb.getJointInfo(robot, j, physicsClientId=cid)[1].decode(): j
                     for j in range(pb.getNumJoints(robot, physicsClientId=cid))}
            links = {pb.getJointInfo(robot, j, physicsClientId=cid)[12].decode(): j
                     for j in range(pb.getNumJoints(robot, physicsClientId=cid))}
            missing = [n for n in (*self.joint_names, *FINGER_JOINT_NAMES) if n not in index]
            if missing:
                raise HalError(f"panda.urdf has no joints {missing}; it has {sorted(index)}")
            self._joints = [index[n] for n in self.joint_names]
            self._fingers = [index[n] for n in FINGER_JOINT_NAMES]
            self.hand_link = links[HAND_LINK_NAME]
            for j, q in zip(self._joints, self.initial_positions, strict=True):
                pb.resetJointState(robot, j, float(q), 0.0, physicsClientId=cid)
            width = self.description.gripper.max_width
            for j in self._fingers:
                pb.resetJointState(robot, j, width / 2, 0.0, physicsClientId=cid)
        except Exception:
            pb.disconnect(physicsClientId=cid)
            raise
        self.client_id, self.robot = cid, robot
        self._forces = (self.description.limits.effort * self.motor_force_scale).tolist()
        self._motors(self.initial_positions, np.zeros(self.n_joints))
        self._gripper = PybulletGripper(self)
        self._gripper._command_hw(GripperCommand(width, self.description.gripper.max_speed, 20.0))
        self.sim_time = 0.0

    def _disconnect(self) -> None:
        if self.client_id is not None:
            try:
                self._pb.disconnect(physicsClientId=self.client_id)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.client_id = self.robot = self._gripper = None

    def _on_cleanup(self) -> None:
        self._disconnect()

    def _on_shutdown(self) -> None:
        self._disconnect()

    def __del__(self):
        try:
            self._disconnect()
        except Exception:  # noqa: BLE001 - interpreter teardown
            pass

    def _motors(self, positions: np.ndarray, velocities: np.ndarray) -> None:
        n = self.n_joints
        self._pb.setJointMotorControlArray(
            self.robot, self._joints, self._pb.POSITION_CONTROL, targetPositions=positions.tolist(),
            targetVelocities=velocities.tolist(), forces=self._forces, positionGains=[self.position_gain] * n,
            velocityGains=[self.velocity_gain] * n, physicsClientId=self.client_id,
        )

    def _step(self, dt: float) -> None:
        for _ in range(max(1, int(round(dt / self.timestep)))):
            self._pb.stepSimulation(physicsClientId=self.client_id)

    def _read_sim(self):
        states = self._pb.getJointStates(self.robot, self._joints, physicsClientId=self.client_id)
        q = np.array([s[0] for s in states])
        v = np.array([s[1] for s in states])
        tau = np.array([s[3] for s in states])
        return q, v, tau

    def _write_hw(self, positions: np.ndarray, velocities: np.ndarray) -> None:
        self._motors(positions, velocities)

    def _hold_hw(self) -> None:
        q, _, _ = self._read_sim()
        self._motors(q, np.zeros(self.n_joints))
