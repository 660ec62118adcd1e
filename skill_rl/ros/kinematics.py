"""The world's controller, kinematics only: a skill's ``ee_delta`` action -> a joint position target on the arm.

A learned or scripted skill acts in the tabletop envs' ``ee_delta`` action space (a Cartesian step of the grip
site, world frame, plus the gripper). On the arm that action goes through the same controller as in
simulation: the env's own persistent Cartesian target and damped-least-squares IK, run on a kinematic copy of
the world's model posed at the measured joints (never stepped), with two extra limits that keep the command
inside the HAL's safety net instead of leaning on it. No rclpy here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["KinematicModel"]


class KinematicModel:
    """The tabletop env's model used for kinematics only: pose it at measured joints, run one IK step.

    ``ee_delta_target(q, action)``: the env's ``ee_delta`` controller, once: the persistent Cartesian
    target moves by the action's twist (at most ``max_ee_step_m`` / ``max_ee_rot_rad``), and damped least
    squares turns the pose error into a joint position target (rad, clipped to the joint limits); the
    gripper value (-1 open .. +1 closed) becomes an opening width (m).
    """

    #: A joint target never leads the measured position by more than this (rad): the HAL's safety filter
    #: clamps (and, if repeated, faults) at max_relative_target_rad = 0.25; a controller must stay inside
    #: the net, not lean on it. The env's own servos have no such limit, hence the clip here.
    max_lead_rad: float = 0.2
    #: The Cartesian target's grip point never goes lower than this (m, world z; the table top is 0): the
    #: HAL's workspace floor keeps the fingertips (8 mm past the grip point) above the table, and a target
    #: under it is a violation the filter clamps and, repeated 25 cycles, faults on. The env's ee_delta
    #: target leads the measured pose by up to 3 cm, so a fast descent would otherwise aim into the table.
    min_grip_z: float = 0.0

    def __init__(self, task_id: str, description: Any = "panda"):
        import mujoco

        from skill_rl.envs.tabletop.scene import FINGER_MAX_OPENING, JOINT_LIMITS, ROBOT_BASE
        from skill_rl.hardware import load_description

        desc = description if not isinstance(description, str) else load_description(description)
        clearance = 0.002  # m, fingertips above the floor
        self.min_grip_z = float(desc.workspace.lower[2] + ROBOT_BASE[2] + desc.kinematics.fingertip_offset + clearance)
        #: (low, high) of the HAL's workspace box in the world frame (m): where a point target may be
        self.workspace_world = (np.asarray(desc.workspace.lower, dtype=np.float64) + ROBOT_BASE,
                                np.asarray(desc.workspace.upper, dtype=np.float64) + ROBOT_BASE)

        self._mujoco = mujoco
        from .scene import make_world_env

        self.env = make_world_env(task_id)
        self.env.reset(seed=0)
        self.config = self.env.config
        self.layout = dict(self.env.obs_layout)
        self.lower, self.upper = JOINT_LIMITS[:, 0].copy(), JOINT_LIMITS[:, 1].copy()
        self.max_width = 2.0 * FINGER_MAX_OPENING

    def set_joints(self, q: np.ndarray) -> None:
        d = self.env.data
        d.qpos[:7] = q
        self._mujoco.mj_kinematics(self.env.model, d)
        self._mujoco.mj_comPos(self.env.model, d)

    def reset_target(self, q: np.ndarray) -> None:
        """Start a new primitive: the Cartesian target := the grip site's pose at ``q``."""
        self.set_joints(q)
        self.env._reset_ee_target()

    def ee_delta_target(self, q: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, float]:
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self.set_joints(q)
        dpos = a[:3] * self.config.max_ee_step_m
        # Where the env's IK will put its persistent target (its own rule: at most 3 cm ahead of the grip
        # point, then moved by dpos); lift dpos so that the target stays above the table clearance.
        from skill_rl.envs.tabletop.base import MAX_TARGET_LAG_M

        env = self.env
        eef_z = float(env.data.site_xpos[env.grip_site][2])
        lag_z = float(np.clip(env._target_pos[2] - eef_z, -MAX_TARGET_LAG_M, MAX_TARGET_LAG_M))
        dpos[2] += max(0.0, self.min_grip_z - (eef_z + lag_z + dpos[2]))
        dq = env._ik_step(dpos, a[3:6] * self.config.max_ee_rot_rad)
        dq = np.clip(dq, -self.max_lead_rad, self.max_lead_rad)
        target = np.clip(q + dq, self.lower, self.upper)
        width = self.max_width * (1.0 - a[6]) / 2.0
        return target, float(width)

    def close(self) -> None:
        self.env.close()
