"""Hardware abstraction for running skills on an arm: ``skill_rl.hardware``.

- ``hal``: ``ArmHAL`` (managed-node lifecycle + latched FAULT; read/write/stop/estop), ``Gripper``, the
  ``JointState`` and command dataclasses, errors.
- ``safety``: ``SafetyFilter``, which every backend's ``write()`` goes through, its ``SafetyConfig`` and the
  per-cycle ``FilterReport``.
- ``description``: ``RobotDescription`` from ``robots/<name>.yaml`` (package data) (limits, workspace, gripper, DH
  forward kinematics).
- ``backends``: ``make_backend("fake" | "mujoco" | "pybullet", ...)``.

The core imports only numpy, PyYAML and the standard library; simulator backends import their simulator
when an arm is configured, and nothing here imports rclpy (the ROS 2 nodes wrap this package).
"""

from __future__ import annotations

from .backends import backend_names, make_backend, register_backend
from .clock import ManualClock
from .description import RobotDescription, available_descriptions, load_description
from .hal import ArmHAL, Gripper, allowed_transitions
from .safety import Clamp, ClampKind, FilterReport, Motion, Rejection, SafetyConfig, SafetyFilter
from .types import (
    DescriptionError,
    Fault,
    FaultCode,
    GripperCommand,
    HalCommError,
    HalError,
    HalFaultError,
    HalState,
    HalStateError,
    JointCommand,
    JointPositionCommand,
    JointState,
    JointVelocityCommand,
)

__all__ = [
    "ArmHAL",
    "Clamp",
    "ClampKind",
    "DescriptionError",
    "Fault",
    "FaultCode",
    "FilterReport",
    "Gripper",
    "GripperCommand",
    "HalCommError",
    "HalError",
    "HalFaultError",
    "HalState",
    "HalStateError",
    "JointCommand",
    "JointPositionCommand",
    "JointState",
    "JointVelocityCommand",
    "ManualClock",
    "Motion",
    "Rejection",
    "RobotDescription",
    "SafetyConfig",
    "SafetyFilter",
    "allowed_transitions",
    "available_descriptions",
    "backend_names",
    "load_description",
    "make_backend",
    "register_backend",
]
