"""Data types shared by the HAL, the safety filter and the backends (stdlib + numpy only).

Units everywhere: seconds (``time.monotonic()``, never wall-clock time), radians, rad/s, rad/s^2, N*m,
metres, newtons. Arrays are float64 of shape ``(n_joints,)`` in the order of ``RobotDescription.joint_names``.

``skill_rl.hardware.hal`` re-exports everything here; import from there.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from skill_rl.errors import UserError


class HalState(enum.Enum):
    """Lifecycle state of an arm; the primary states of a ROS 2 managed node plus a latched FAULT.

    The values are ``lifecycle_msgs/msg/State`` ids (FAULT uses ERRORPROCESSING's 15), so a ROS 2
    lifecycle node wrapping a HAL can publish them as they are.
    """

    UNCONFIGURED = 1  # not connected: no reads, no writes
    INACTIVE = 2  # connected: reads allowed, commands refused
    ACTIVE = 3  # powered: commands go through the SafetyFilter to the arm
    FINALIZED = 4  # shut down for good
    FAULT = 15  # latched after an e-stop or a safety fault; only reset() or shutdown() leave it


class FaultCode(enum.Enum):
    """Why an arm latched FAULT. ``Fault.joint`` names the joint where one is to blame."""

    NON_FINITE_COMMAND = "non_finite_command"  # NaN or inf in a command
    COMMAND_MISMATCH = "command_mismatch"  # wrong shape, wrong joint names or order, unknown command type
    JUMP = "jump"  # |target - measured| > max_relative_target (strict, or repeated)
    JOINT_LIMIT = "joint_limit"  # target beyond the position limits minus margin (strict, or repeated)
    VELOCITY_LIMIT = "velocity_limit"  # velocity command beyond the velocity limit (strict, or repeated)
    WORKSPACE = "workspace"  # a tool point would leave the workspace box (strict, or repeated)
    TRACKING_ERROR = "tracking_error"  # measured vs commanded beyond the threshold for N cycles
    NON_FINITE_STATE = "non_finite_state"  # NaN or inf read from the arm
    STATE_MISMATCH = "state_mismatch"  # the backend returned arrays of the wrong shape
    READ_FAILURE = "read_failure"  # read failed after all retries
    WRITE_FAILURE = "write_failure"  # the backend raised while being commanded
    ESTOP = "estop"  # estop() was called
    BACKEND = "backend"  # the arm itself reported an error (reflex, protective stop, ...)
    HEARTBEAT = "heartbeat"  # the commanding executor's heartbeat stopped (it died): held, then latched


@dataclass(frozen=True)
class Fault:
    """A latched fault: what, where, and a message a person can act on.

    ``joint`` is the joint name when one joint is to blame, ``value``/``limit`` the offending number and
    the bound it broke (units of that quantity), ``stamp`` the monotonic time it was latched.
    """

    code: FaultCode
    message: str
    joint: str | None = None
    value: float | None = None
    limit: float | None = None
    stamp: float = float("nan")

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


# ---------------------------------------------------------------- errors
class HalError(RuntimeError):
    """Base class of every error raised by an arm HAL."""


class HalStateError(HalError):
    """A call that the current lifecycle state does not allow (e.g. write() while INACTIVE)."""

    def __init__(self, message: str, state: HalState, allowed: tuple[str, ...] = ()):
        super().__init__(message)
        self.state = state
        self.allowed = allowed


class HalFaultError(HalError):
    """The arm is (or just went) in FAULT; ``fault`` says why. Leave with ``reset()``."""

    def __init__(self, fault: Fault):
        super().__init__(f"arm in FAULT ({fault}); call reset() to recover, then activate()")
        self.fault = fault


class HalCommError(HalError):
    """Communication with the arm failed (a read or write that may succeed when retried)."""


class DescriptionError(UserError, ValueError):
    """A robot description (or safety config) is malformed; the message names the file and the key."""


# ---------------------------------------------------------------- state and commands
def _as_vector(values, name: str) -> np.ndarray:
    arr = np.array(values, dtype=np.float64, copy=True)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of numbers, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class JointState:
    """One reading of the arm (sensor_msgs/JointState in SI units).

    stamp: ``time.monotonic()`` seconds (the HAL's clock) when the reading was taken.
    names: joint names, length n, the description's order.
    position: (n,) rad. velocity: (n,) rad/s. effort: (n,) N*m (measured joint torque; zeros where the
    backend has none). seq: increasing reading counter. The arrays are read-only copies.
    """

    stamp: float
    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray
    seq: int = 0

    def __post_init__(self) -> None:
        for attr in ("position", "velocity", "effort"):
            object.__setattr__(self, attr, _as_vector(getattr(self, attr), attr))


@dataclass(frozen=True, eq=False)
class JointPositionCommand:
    """A joint position setpoint/target: ``positions`` (n,) rad, ``stamp`` the monotonic time it was made.

    ``names`` (optional) must equal the description's joint names in order when given.
    """

    positions: np.ndarray
    stamp: float
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", _as_vector(self.positions, "positions"))

    @property
    def values(self) -> np.ndarray:
        return self.positions


@dataclass(frozen=True, eq=False)
class JointVelocityCommand:
    """A joint velocity command: ``velocities`` (n,) rad/s, ``stamp`` the monotonic time it was made.

    ``names`` (optional) must equal the description's joint names in order when given.
    """

    velocities: np.ndarray
    stamp: float
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "velocities", _as_vector(self.velocities, "velocities"))

    @property
    def values(self) -> np.ndarray:
        return self.velocities


JointCommand = JointPositionCommand | JointVelocityCommand


@dataclass(frozen=True)
class GripperCommand:
    """What a gripper was actually told (after clamping): width m, speed m/s, force N, stamp s."""

    width: float
    speed: float
    force: float
    stamp: float = field(default=float("nan"))
