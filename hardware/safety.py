"""SafetyFilter: the one gate between commands and an arm (numpy + stdlib only).

Every backend goes through it: ``ArmHAL.write`` (hal.py) runs ``SafetyFilter.update`` once per control
cycle and sends the backend only what the filter returns. The filter turns a stream of position or
velocity commands into a rate-limited joint position setpoint (plus its velocity), and reports every
decision in a ``FilterReport``.

One cycle, in order (the survey's section B; references in brackets):

1. Clock. Read the clock once. Per-cycle motion limits use the nominal period ``1 / nominal_rate_hz`` (as
   ros2_control's fixed update rate), never the measured one, so a stalled loop or a clock jump can never
   allow a bigger step. Timers (watchdog, soft start) advance by the measured cycle time, except that a
   cycle whose clock delta is negative or longer than ``clock_jump_s`` counts as one nominal period and is
   reported as a clock jump [JTC: "robust to system clock changes"].
2. Gate. A latched fault or an inactive filter sends nothing [ros2_control #931: inactive hardware must
   ignore commands itself].
3. Measured state and tracking. Non-finite state -> fault. |measured - last setpoint| above
   ``tracking_error_rad`` for ``tracking_error_cycles`` cycles in a row -> fault naming the joint [JTC path
   tolerance; FollowJointTrajectory PATH_TOLERANCE_VIOLATED].
4. Integrity. Unknown type, wrong shape or joint names -> fault; NaN/inf -> fault [franka_hardware
   write() returns ERROR on non-finite]. Older than ``command_max_age_s`` or stamped in the future ->
   rejected (not a fault) [JTC OLD_HEADER_TIMESTAMP; MoveIt Servo stamps]. A command with the stamp of the
   last accepted one is a repeat, not a fresh command (re-sending the last message is exactly the forward
   controller's missing-timeout bug, ros2_controllers#95).
5. Watchdog. No fresh command for ``watchdog_timeout_s`` -> drop the target, decelerate to a stop within
   the acceleration limits, hold [MoveIt Servo incoming_command_timeout, UR robot_receive_timeout, deoxys
   control timeout]. Not a fault: the next fresh command resumes.
6. Target. Position targets: clamp into the position limits minus ``position_margin_rad`` (JOINT_LIMIT)
   [polymetis, MoveIt joint_limit_margin] and to within ``max_relative_target_rad`` of the measured
   position (JUMP) [LeRobot ensure_safe_goal_position]. Velocity targets: clamp to the velocity limit
   (VELOCITY_LIMIT).
7. Rate limits (RATE_LIMIT, shaping, not a violation). Setpoint velocity limited by the velocity limit
   times the speed scale, by the acceleration limit, and by the braking envelopes that let it stop at the
   target and before the position limits without exceeding the acceleration limit [franka limitRate;
   ros2_control joint_limits]. A velocity command braked by a position limit is a JOINT_LIMIT violation
   [MoveIt Servo JOINT_BOUND].
8. Speed scale. Ramps 0 -> 1 over ``soft_start_s`` after every activation; the setpoint starts at the
   measured position, so activation never jumps [franka needs_initial_command_, JTC
   set_last_command_interface_value_as_state_on_activation, JTC speed_scaling].
9. Runaway guard. The setpoint never goes more than ``max_relative_target_rad`` from the measured position
   (JUMP).
10. Workspace. Forward kinematics of the tool points (flange, grip point and, when the description has
    them, the fingertips) must stay in the workspace box [polymetis cartesian box, frankapy walls].
    Lookahead: if a synchronised stop from the next setpoint would take a point out of the box while it
    heads for that wall, the filter starts braking the motion towards the wall now, so the arm does not
    reach it at speed (an acceleration discontinuity is a reflex on a real Franka); the motion along the
    wall is kept (a push slides along the table). Net: the part of a step that would still go through a
    wall is removed (projection with the tool points' Jacobians), what remains outside is cut back
    (bisection), and an arm already outside may only move back in. These are WORKSPACE clamps when the
    command's own target is outside the box; when the target is inside (the braking, or the curvature of
    a joint-space step, is the filter's doing) they are reported as RATE_LIMIT shaping and never fault.
11. Violations. JUMP, JOINT_LIMIT, VELOCITY_LIMIT and WORKSPACE clamps are violations: in ``strict`` mode
    the first one faults (nothing is sent); otherwise the same violation on ``max_consecutive_violations``
    fresh commands in a row faults, with the joint named (a single command clamped on many cycles, until
    the next command or the watchdog, counts once).
12. Stop. ``request_stop()`` (cancel, preempt) drops the target and decelerates like the watchdog
    [JTC decelerate_on_cancel]; all joints decelerate in sync, so the path is kept.

Faults latch until ``reset()``; then ``activate()`` re-seeds from the measured state [franka
error_recovery, UR unlock_protective_stop].
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .description import RobotDescription
from .types import (
    DescriptionError,
    Fault,
    FaultCode,
    JointPositionCommand,
    JointState,
    JointVelocityCommand,
)

__all__ = [
    "Clamp",
    "ClampKind",
    "FaultCode",
    "FilterReport",
    "Motion",
    "Rejection",
    "SafetyConfig",
    "SafetyFilter",
]

EPS = 1e-9


# ---------------------------------------------------------------- configuration
@dataclass(frozen=True)
class SafetyConfig:
    """Every knob of the safety filter (and the HAL's read retries). SI units, radians.

    Defaults follow the survey's references: 0.1 s command age and watchdog (MoveIt Servo), 0.1 rad position
    margin (MoveIt/polymetis), 0.1 rad/s velocity margin (polymetis), 3 read retries (LeRobot).
    """

    command_max_age_s: float = 0.1  # older commands are rejected
    max_future_stamp_s: float = 0.01  # commands stamped further in the future are rejected
    watchdog_timeout_s: float = 0.1  # no fresh command this long -> decelerate to a stop, hold
    max_relative_target_rad: float | tuple[float, ...] = 0.25  # per joint |target - measured|
    position_margin_rad: float = 0.1  # stay this far inside the position limits
    velocity_margin_rad_s: float = 0.1  # velocity limit used = limit - margin
    workspace_margin_m: float = 0.0  # shrink the workspace box by this much
    tracking_error_rad: float = 0.15  # |measured - setpoint| threshold ...
    tracking_error_cycles: int = 10  # ... for this many consecutive cycles -> FAULT
    max_consecutive_violations: int = 25  # the same violation on this many fresh commands in a row -> FAULT
    soft_start_s: float = 1.0  # speed scale ramps 0 -> 1 over this long after activate()
    strict: bool = False  # a violation faults at once instead of being clamped
    read_retries: int = 3  # read attempts after the first failure before FAULT (used by ArmHAL)
    clock_jump_s: float = 0.25  # a cycle longer than this (or negative) is a clock jump

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>", n_joints: int | None = None) -> SafetyConfig:
        """Validate a mapping (the ``safety:`` section of a description); errors name ``safety.<key>``."""
        if not isinstance(data, Mapping):
            raise DescriptionError(f"{source}: safety: must be a mapping, got {type(data).__name__}")
        valid = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in valid:
                raise DescriptionError(
                    f"{source}: safety.{key}: unknown key; valid keys: {', '.join(sorted(valid))}"
                )
            values[key] = _check_field(key, value, valid[key].default, source, n_joints)
        return cls(**values)

    @classmethod
    def from_description(cls, description: RobotDescription, overrides: Mapping[str, Any] | SafetyConfig | None = None) -> SafetyConfig:
        """The description's ``safety:`` section, with ``overrides`` (a mapping or a whole config) on top."""
        if isinstance(overrides, SafetyConfig):
            return overrides
        merged = {**description.safety, **(overrides or {})}
        return cls.from_dict(merged, source=description.source, n_joints=description.n_joints)


def _check_field(key: str, value: Any, default: Any, source: str, n: int | None) -> Any:
    where = f"{source}: safety.{key}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise DescriptionError(f"{where}: must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DescriptionError(f"{where}: must be an integer >= 1, got {value!r}")
        return value
    if key == "max_relative_target_rad" and isinstance(value, (list, tuple)):
        if n is not None and len(value) != n:
            raise DescriptionError(f"{where}: must be a number or one number per joint ({n}), got {value!r}")
        return tuple(_positive(v, where) for v in value)
    if key in ("workspace_margin_m",):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise DescriptionError(f"{where}: must be a number >= 0, got {value!r}")
        return float(value)
    if key in ("position_margin_rad", "velocity_margin_rad_s", "max_future_stamp_s"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise DescriptionError(f"{where}: must be a number >= 0, got {value!r}")
        return float(value)
    return _positive(value, where)


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise DescriptionError(f"{where}: must be a number > 0, got {value!r}")
    return float(value)


# ---------------------------------------------------------------- report
class ClampKind(enum.Enum):
    """What a clamp did. The first four are violations (strict -> fault; repeated -> fault)."""

    JUMP = "jump"  # target/setpoint farther than max_relative_target from the measured position
    JOINT_LIMIT = "joint_limit"  # target beyond position limits minus margin (or pushing into them)
    VELOCITY_LIMIT = "velocity_limit"  # velocity command beyond the velocity limit
    WORKSPACE = "workspace"  # step cut back so the tool points stay in the workspace box
    RATE_LIMIT = "rate_limit"  # setpoint velocity shaped (velocity/acceleration/braking/speed scale)

    @property
    def is_violation(self) -> bool:
        return self is not ClampKind.RATE_LIMIT


_FAULT_OF = {
    ClampKind.JUMP: FaultCode.JUMP,
    ClampKind.JOINT_LIMIT: FaultCode.JOINT_LIMIT,
    ClampKind.VELOCITY_LIMIT: FaultCode.VELOCITY_LIMIT,
    ClampKind.WORKSPACE: FaultCode.WORKSPACE,
}


@dataclass(frozen=True)
class Clamp:
    """One modification of one joint (``joint`` None for the workspace, which names its point/axis in
    ``message``): ``requested`` -> ``applied``, because of ``limit`` (units of the quantity: rad, rad/s, m)."""

    kind: ClampKind
    joint: str | None
    requested: float
    applied: float
    limit: float
    message: str


class Rejection(enum.Enum):
    """Why the command given to this cycle was not taken (``FilterReport.rejected``)."""

    NOT_ACTIVE = "not_active"  # the filter/arm is not ACTIVE
    FAULTED = "faulted"  # a fault is latched
    STALE = "stale"  # older than command_max_age_s
    FUTURE_STAMP = "future_stamp"  # stamped in the future (a clock problem upstream)
    SUPERSEDED = "superseded"  # stamped before the last stop(): belongs to a cancelled goal
    INVALID = "invalid"  # integrity failure (also latched as a fault)


class Motion(enum.Enum):
    HOLD = "hold"  # setpoint at rest
    TRACK = "track"  # following a command
    STOPPING = "stopping"  # decelerating (stop() or watchdog)


@dataclass(frozen=True, eq=False)
class FilterReport:
    """Everything the filter decided in one cycle (publish it as diagnostics).

    positions/velocities: (n,) setpoint sent to the backend (rad, rad/s), None when nothing is sent.
    tracking_error: (n,) measured - previous setpoint, rad. speed_scale: 0..1 (soft start).
    clock_jump: the clock delta of this cycle when it was treated as a jump, else 0.0 (s).
    fault: the fault latched this cycle (or the standing one when ``rejected`` is FAULTED).
    """

    stamp: float
    cycle: int
    send: bool
    positions: np.ndarray | None
    velocities: np.ndarray | None
    command_kind: str  # "position" or "velocity": what the applied command is reported as
    motion: Motion
    fresh: bool = False
    rejected: Rejection | None = None
    reject_message: str = ""
    clamps: tuple[Clamp, ...] = ()
    speed_scale: float = 0.0
    watchdog: bool = False
    clock_jump: float = 0.0
    tracking_error: np.ndarray | None = None
    fault: Fault | None = None

    @property
    def clamped(self) -> bool:
        return bool(self.clamps)

    def clamps_of(self, kind: ClampKind) -> list[Clamp]:
        return [c for c in self.clamps if c.kind is kind]

    def clamped_joints(self, kind: ClampKind | None = None) -> list[str]:
        return sorted({c.joint for c in self.clamps if c.joint and (kind is None or c.kind is kind)})

    @property
    def violations(self) -> list[Clamp]:
        return [c for c in self.clamps if c.kind.is_violation]

    def summary(self) -> str:
        """One line for a log or a diagnostic status message."""
        parts = [f"cycle {self.cycle}", self.motion.value, f"speed {self.speed_scale:.2f}"]
        if self.fault is not None:
            parts.append(f"FAULT {self.fault}")
        if self.rejected is not None:
            parts.append(f"rejected {self.rejected.value}: {self.reject_message}")
        if self.watchdog:
            parts.append("watchdog")
        if self.clock_jump:
            parts.append(f"clock jump {self.clock_jump:+.3f} s")
        by_kind: dict[str, list[str]] = {}
        for c in self.clamps:
            by_kind.setdefault(c.kind.value, []).append(c.joint or "workspace")
        parts += [f"{k}: {', '.join(v)}" for k, v in by_kind.items()]
        return "; ".join(parts)

    def as_dict(self) -> dict[str, str]:
        """Flat string key/values (diagnostic_msgs/KeyValue style)."""
        out = {
            "cycle": str(self.cycle), "motion": self.motion.value, "send": str(self.send),
            "fresh": str(self.fresh), "speed_scale": f"{self.speed_scale:.3f}", "watchdog": str(self.watchdog),
            "clock_jump_s": f"{self.clock_jump:.6f}",
            "rejected": self.rejected.value if self.rejected else "", "fault": str(self.fault or ""),
        }
        for i, c in enumerate(self.clamps):
            out[f"clamp{i}"] = c.message
        if self.tracking_error is not None:
            out["max_tracking_error_rad"] = f"{float(np.max(np.abs(self.tracking_error))):.4f}"
        return out


# ---------------------------------------------------------------- the filter
def _brake_speed(room: np.ndarray, accel: np.ndarray, dt: float) -> np.ndarray:
    """Largest speed (>= 0) from which slowing by ``u = accel*dt`` per cycle stops within ``room`` (>= 0).

    Exact in discrete time: from v in [n*u, (n+1)*u) the cycles move dt * ((n+1)*v - u*n*(n+1)/2), so for a
    given room n = floor((sqrt(1 + 8*room/(dt*u)) - 1)/2) and v = room/(dt*(n+1)) + n*u/2. Following it
    lands exactly on the target, with no overshoot.
    """
    room = np.maximum(room, 0.0)
    u = accel * dt
    n = np.floor((np.sqrt(1.0 + 8.0 * room / (dt * u)) - 1.0) / 2.0)
    return room / (dt * (n + 1.0)) + n * u / 2.0


class SafetyFilter:
    """Per-cycle safety filter for one arm (see the module docstring for the order of checks).

    ``clock`` is any zero-argument callable returning monotonic seconds (injectable for tests).
    Lifecycle: ``activate(measured)`` seeds the setpoint from the measured state; ``update(cmd, measured)``
    once per control cycle (``cmd`` None when no new command arrived); ``request_stop()``;
    ``latch(fault)``; ``reset()``; ``deactivate()``.
    """

    def __init__(self, description: RobotDescription, config: SafetyConfig | Mapping[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.description = description
        self.config = SafetyConfig.from_description(description, config)
        self.clock = clock
        cfg, lim, n = self.config, description.limits, description.n_joints
        self.names = description.joint_names
        self.n = n
        self.period = description.period
        margin = cfg.position_margin_rad
        if np.any(lim.upper - lim.lower <= 2 * margin):
            i = int(np.argmin(lim.upper - lim.lower))
            raise DescriptionError(
                f"{description.source}: safety.position_margin_rad {margin} leaves no range for joint {self.names[i]!r}"
            )
        self.lower = lim.lower + margin
        self.upper = lim.upper - margin
        self.vmax = np.maximum(lim.velocity - cfg.velocity_margin_rad_s, 0.05 * lim.velocity)
        self.amax = np.array(lim.acceleration, dtype=np.float64)
        self.max_rel = np.broadcast_to(np.asarray(cfg.max_relative_target_rad, dtype=np.float64), (n,)).copy()
        self._external_scale = 1.0
        self._t = 0.0  # internal time: sum of (jump-robust) cycle durations, s
        self._last_now: float | None = None
        self._cycle = 0
        self._fault: Fault | None = None
        self._active = False
        self._reset_motion(np.zeros(n))

    # ------------------------------------------------------------ state
    def _reset_motion(self, q: np.ndarray) -> None:
        n = self.n
        self._q = np.array(q, dtype=np.float64)  # setpoint sent last cycle
        self._v = np.zeros(n)  # its velocity
        self._target: tuple[str, np.ndarray] | None = None
        self._kind = "position"
        self._motion = Motion.HOLD
        self._last_cmd_stamp: float | None = None
        self._last_fresh_t = self._t
        self._t_activate = self._t
        self._stop_at: float | None = None
        self._watchdog_tripped = False
        self._track_count = np.zeros(n, dtype=int)
        self._violation_count: dict[tuple[ClampKind, str], int] = {}

    @property
    def active(self) -> bool:
        return self._active

    @property
    def fault(self) -> Fault | None:
        return self._fault

    @property
    def motion(self) -> Motion:
        return self._motion

    @property
    def setpoint(self) -> tuple[np.ndarray, np.ndarray]:
        """Last setpoint (positions rad, velocities rad/s), copies."""
        return self._q.copy(), self._v.copy()

    @property
    def is_stopped(self) -> bool:
        return self._motion is Motion.HOLD and not np.any(self._v)

    @property
    def speed_scale(self) -> float:
        ramp = 1.0 if self.config.soft_start_s <= 0 else (self._t - self._t_activate) / self.config.soft_start_s
        return float(np.clip(ramp, 0.0, 1.0)) * self._external_scale

    def set_speed_scale(self, scale: float) -> None:
        """An operator speed override in [0, 1] (UR speed slider / JTC speed_scaling), on top of soft start."""
        if not (isinstance(scale, (int, float)) and math.isfinite(scale) and 0.0 <= scale <= 1.0):
            raise ValueError(f"speed scale must be a number in [0, 1], got {scale!r}")
        self._external_scale = float(scale)

    # ------------------------------------------------------------ lifecycle
    def activate(self, measured: JointState) -> None:
        """Seed the setpoint from ``measured`` (no jump), zero velocity, start the soft-start ramp."""
        if self._fault is not None:
            raise RuntimeError(f"cannot activate the safety filter with a latched fault ({self._fault}); reset() first")
        q = np.asarray(measured.position, dtype=np.float64)
        if q.shape != (self.n,) or not np.all(np.isfinite(q)):
            raise ValueError(f"activate() needs a finite measured position of shape ({self.n},), got {q}")
        self._last_now = self.clock()
        self._reset_motion(q)
        self._active = True

    def deactivate(self) -> None:
        self._active = False
        self._target = None
        self._motion = Motion.HOLD
        self._v = np.zeros(self.n)

    def latch(self, fault: Fault) -> Fault:
        """Latch ``fault`` (the first one stays latched); returns the latched fault."""
        if self._fault is None:
            if math.isnan(fault.stamp):
                fault = Fault(fault.code, fault.message, fault.joint, fault.value, fault.limit, self.clock())
            self._fault = fault
        self._target = None
        self._v = np.zeros(self.n)
        self._motion = Motion.HOLD
        return self._fault

    def reset(self) -> None:
        """Clear a latched fault. The filter stays inactive until ``activate()`` re-seeds it."""
        self._fault = None
        self._active = False

    def request_stop(self) -> None:
        """Drop the target and decelerate to a stop (cancel/preempt). Commands stamped before now are
        refused; the next fresh command resumes motion."""
        self._target = None
        if self._motion is Motion.TRACK or np.any(self._v):
            self._motion = Motion.STOPPING
        self._stop_at = self.clock()

    # ------------------------------------------------------------ the cycle
    def update(self, cmd: JointPositionCommand | JointVelocityCommand | None, measured: JointState | None) -> FilterReport:
        """Run one control cycle; see the module docstring. Never raises for bad commands: a fault is
        latched and returned in the report, and ``send`` is False."""
        cfg, dt = self.config, self.period
        now = self.clock()
        self._cycle += 1
        self._shaped_target: np.ndarray | None = None  # this cycle's position target after its clamps
        jump = 0.0
        elapsed = dt if self._last_now is None else now - self._last_now
        if elapsed < 0 or elapsed > cfg.clock_jump_s:
            jump, elapsed = elapsed, dt
            self._stop_at = None  # stamps before and after a jump are not comparable
        self._last_now = now
        self._t += elapsed
        base: dict[str, Any] = {"stamp": now, "cycle": self._cycle, "clock_jump": jump}

        if self._fault is not None:
            return FilterReport(send=False, positions=None, velocities=None, motion=self._motion, command_kind=self._kind,
                                rejected=Rejection.FAULTED, reject_message=str(self._fault), fault=self._fault, **base)
        if not self._active:
            return FilterReport(send=False, positions=None, velocities=None, motion=self._motion, command_kind=self._kind,
                                rejected=Rejection.NOT_ACTIVE, reject_message="the arm is not ACTIVE", **base)

        def fail(fault: Fault, rejected: Rejection | None = None, **extra) -> FilterReport:
            latched = self.latch(Fault(fault.code, fault.message, fault.joint, fault.value, fault.limit, now))
            return FilterReport(send=False, positions=None, velocities=None, motion=self._motion, fault=latched,
                                command_kind=self._kind,
                                rejected=rejected, reject_message=fault.message if rejected else "", **base, **extra)

        # -- measured state and tracking
        meas = self._check_measured(measured)
        if isinstance(meas, Fault):
            return fail(meas)
        track_err = meas - self._q
        over = np.abs(track_err) > cfg.tracking_error_rad
        self._track_count = np.where(over, self._track_count + 1, 0)
        if np.any(self._track_count >= cfg.tracking_error_cycles):
            i = int(np.argmax(np.where(self._track_count >= cfg.tracking_error_cycles, np.abs(track_err), -1)))
            return fail(Fault(
                FaultCode.TRACKING_ERROR,
                f"joint {self.names[i]!r}: measured {meas[i]:.4f} rad is {track_err[i]:+.4f} rad from the setpoint "
                f"{self._q[i]:.4f} rad for {self._track_count[i]} cycles (threshold {cfg.tracking_error_rad} rad "
                f"for {cfg.tracking_error_cycles} cycles)",
                joint=self.names[i], value=float(track_err[i]), limit=cfg.tracking_error_rad,
            ), tracking_error=track_err)

        # -- the command
        fresh, rejected, reject_message = False, None, ""
        if cmd is not None:
            problem = self._check_command(cmd)
            if problem is not None:
                return fail(problem, Rejection.INVALID, tracking_error=track_err)
            if cmd.stamp == self._last_cmd_stamp:
                pass  # the same command again: not fresh
            elif self._stop_at is not None and cmd.stamp <= self._stop_at:
                rejected = Rejection.SUPERSEDED
                reject_message = f"stamped {self._stop_at - cmd.stamp:.3f} s before the last stop()"
            elif now - cmd.stamp > cfg.command_max_age_s:
                rejected = Rejection.STALE
                reject_message = f"command is {now - cmd.stamp:.3f} s old (max {cfg.command_max_age_s} s)"
            elif cmd.stamp - now > cfg.max_future_stamp_s:
                rejected = Rejection.FUTURE_STAMP
                reject_message = f"command is stamped {cmd.stamp - now:.3f} s in the future"
            else:
                fresh = True
                kind = "position" if isinstance(cmd, JointPositionCommand) else "velocity"
                self._target = (kind, np.array(cmd.values, dtype=np.float64))
                self._kind = kind
                self._last_cmd_stamp = cmd.stamp
                self._last_fresh_t = self._t
                self._motion = Motion.TRACK
                self._watchdog_tripped = False

        # -- watchdog
        watchdog = False
        if self._motion is Motion.TRACK and self._t - self._last_fresh_t > cfg.watchdog_timeout_s + EPS:
            self._target = None
            self._motion = Motion.STOPPING
            self._watchdog_tripped = True
        if self._watchdog_tripped and self._motion is not Motion.TRACK:
            watchdog = True

        # -- shaping
        clamps: list[Clamp] = []
        scale = self.speed_scale
        q, v = self._q, self._v
        vlim = self.vmax * scale
        limit_push = np.zeros(self.n, dtype=bool)  # velocity commands pushing into a position limit
        if self._motion is Motion.TRACK and self._target is not None:
            kind, values = self._target
            if kind == "position":
                v_des = self._position_velocity(values, q, meas, clamps)
            else:
                v_des = self._velocity_command(values, clamps)
                limit_push = ((v_des > 0) & (q >= self.upper - EPS)) | ((v_des < 0) & (q <= self.lower + EPS))
        elif np.any(v):
            v_des = self._sync_decel(v)  # all joints in sync, so the path is kept (JTC decelerate_on_cancel)
        else:
            v_des = np.zeros(self.n)

        v_new = self._rate_limit(v_des, v, q, vlim)
        if self._motion is Motion.TRACK and np.any(v_new):
            v_new = self._workspace_lookahead(q, v, v_new, clamps)
        if self._motion is Motion.TRACK:
            for i in np.flatnonzero(np.abs(v_new - v_des) > 1e-9):
                braked_by_limit = (v_des[i] > v_new[i] and q[i] + v_new[i] * dt >= self.upper[i] - 1e-6) or (
                    v_des[i] < v_new[i] and q[i] + v_new[i] * dt <= self.lower[i] + 1e-6)
                if self._kind == "velocity" and (braked_by_limit or limit_push[i]):
                    bound = self.upper[i] if v_des[i] > 0 else self.lower[i]
                    clamps.append(Clamp(ClampKind.JOINT_LIMIT, self.names[i], float(v_des[i]), float(v_new[i]), float(bound),
                                        f"{self.names[i]}: velocity {v_des[i]:+.3f} rad/s braked to {v_new[i]:+.3f} "
                                        f"rad/s at the position limit {bound:.4f} rad (limit - margin)"))
                else:
                    clamps.append(Clamp(ClampKind.RATE_LIMIT, self.names[i], float(v_des[i]), float(v_new[i]), float(vlim[i]),
                                        f"{self.names[i]}: velocity {v_des[i]:+.3f} -> {v_new[i]:+.3f} rad/s "
                                        f"(limit {vlim[i]:.3f} rad/s at speed scale {scale:.2f}, accel {self.amax[i]} rad/s^2)"))
        q_new = q + v_new * dt
        # Safety net: never leave the position band (or go further out when already outside it).
        q_new = np.clip(q_new, np.minimum(self.lower, q), np.maximum(self.upper, q))
        # Runaway guard: the setpoint stays within max_relative_target of the measured position.
        lo_r, hi_r = meas - self.max_rel, meas + self.max_rel
        guarded = np.clip(q_new, np.minimum(lo_r, q), np.maximum(hi_r, q))
        for i in np.flatnonzero(np.abs(guarded - q_new) > 1e-12):
            clamps.append(Clamp(ClampKind.JUMP, self.names[i], float(q_new[i]), float(guarded[i]), float(self.max_rel[i]),
                                f"{self.names[i]}: setpoint {q_new[i]:.4f} rad is more than {self.max_rel[i]} rad from "
                                f"the measured {meas[i]:.4f} rad; held at {guarded[i]:.4f}"))
        q_new = self._workspace(q, guarded, clamps)

        # -- violations
        violations = [c for c in clamps if c.kind.is_violation]
        if violations and cfg.strict:
            c = violations[0]
            return fail(Fault(_FAULT_OF[c.kind], f"strict mode: {c.message}", joint=c.joint, value=c.requested, limit=c.limit),
                        Rejection.INVALID if fresh else None, clamps=tuple(clamps), tracking_error=track_err,
                        speed_scale=scale)
        if fresh:
            # Counted per fresh command, not per cycle: one command whose target stays out of reach is clamped
            # on every cycle until the next command (or the watchdog) and is still one violation; a stream of
            # violating commands is what faults.
            seen = {(c.kind, c.joint or "workspace") for c in violations}
            self._violation_count = {key: self._violation_count.get(key, 0) + 1 for key in seen}
            for (vkind, joint), count in self._violation_count.items():
                if count >= cfg.max_consecutive_violations:
                    c = next(c for c in violations if c.kind is vkind and (c.joint or "workspace") == joint)
                    return fail(Fault(
                        _FAULT_OF[vkind],
                        f"{vkind.value} clamped on {count} consecutive commands (max {cfg.max_consecutive_violations}); "
                        f"last: {c.message}",
                        joint=c.joint, value=c.requested, limit=c.limit,
                    ), clamps=tuple(clamps), tracking_error=track_err, speed_scale=scale)

        v_new = (q_new - q) / dt
        self._q, self._v = q_new, v_new
        if self._motion is Motion.STOPPING and not np.any(v_new):
            self._motion = Motion.HOLD
        return FilterReport(
            send=True, positions=q_new.copy(), velocities=v_new.copy(), motion=self._motion, fresh=fresh,
            command_kind=self._kind,
            rejected=rejected, reject_message=reject_message, clamps=tuple(clamps), speed_scale=scale,
            watchdog=watchdog, tracking_error=track_err, **base,
        )

    # ------------------------------------------------------------ pieces
    def _check_measured(self, measured: JointState | None) -> np.ndarray | Fault:
        if measured is None:
            return Fault(FaultCode.STATE_MISMATCH, "no measured state: read() must run before write()")
        q = np.asarray(measured.position, dtype=np.float64)
        if q.shape != (self.n,):
            return Fault(FaultCode.STATE_MISMATCH, f"measured position has shape {q.shape}, expected ({self.n},)")
        bad = np.flatnonzero(~np.isfinite(q))
        if bad.size:
            i = int(bad[0])
            return Fault(FaultCode.NON_FINITE_STATE, f"joint {self.names[i]!r}: measured position is {q[i]}",
                         joint=self.names[i], value=float(q[i]))
        return q

    def _check_command(self, cmd: Any) -> Fault | None:
        if not isinstance(cmd, (JointPositionCommand, JointVelocityCommand)):
            return Fault(FaultCode.COMMAND_MISMATCH,
                         f"commands must be JointPositionCommand or JointVelocityCommand, got {type(cmd).__name__}")
        if cmd.names is not None and tuple(cmd.names) != self.names:
            return Fault(FaultCode.COMMAND_MISMATCH,
                         f"command joint names {list(cmd.names)} differ from the arm's {list(self.names)} (names and order must match)")
        values = np.asarray(cmd.values)
        what = "positions" if isinstance(cmd, JointPositionCommand) else "velocities"
        if values.shape != (self.n,):
            return Fault(FaultCode.COMMAND_MISMATCH, f"command {what} have shape {values.shape}, expected ({self.n},)")
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            return Fault(FaultCode.NON_FINITE_COMMAND,
                         f"joint {self.names[i]!r}: command {what[:-1] if what == 'positions' else 'velocity'} is {values[i]} "
                         f"(non-finite at {[self.names[j] for j in bad]}); rejected, nothing sent",
                         joint=self.names[i], value=float(values[i]))
        if not (isinstance(cmd.stamp, (int, float)) and math.isfinite(cmd.stamp)):
            return Fault(FaultCode.NON_FINITE_COMMAND, f"command stamp is {cmd.stamp!r}; stamps must be finite monotonic seconds")
        return None

    def _position_velocity(self, target: np.ndarray, q: np.ndarray, meas: np.ndarray, clamps: list[Clamp]) -> np.ndarray:
        """Desired setpoint velocity towards a position target (after limit and jump clamps)."""
        tgt = target
        clipped = np.clip(tgt, self.lower, self.upper)
        for i in np.flatnonzero(clipped != tgt):
            bound = self.upper[i] if tgt[i] > self.upper[i] else self.lower[i]
            clamps.append(Clamp(ClampKind.JOINT_LIMIT, self.names[i], float(tgt[i]), float(clipped[i]), float(bound),
                                f"{self.names[i]}: target {tgt[i]:.4f} rad is beyond the limit {bound:.4f} rad "
                                f"(limit - {self.config.position_margin_rad} rad margin); clamped"))
        tgt = clipped
        lo, hi = meas - self.max_rel, meas + self.max_rel
        jumped = np.clip(tgt, lo, hi)
        self._shaped_target = jumped
        for i in np.flatnonzero(jumped != tgt):
            clamps.append(Clamp(ClampKind.JUMP, self.names[i], float(tgt[i]), float(jumped[i]), float(self.max_rel[i]),
                                f"{self.names[i]}: target {tgt[i]:.4f} rad jumps {tgt[i] - meas[i]:+.4f} rad from the "
                                f"measured {meas[i]:.4f} rad (max {self.max_rel[i]} rad); clamped to {jumped[i]:.4f}"))
        err = jumped - q
        dt = self.period
        speed = np.minimum(np.abs(err) / dt, _brake_speed(np.abs(err), self.amax, dt))
        return np.sign(err) * speed

    def _velocity_command(self, velocities: np.ndarray, clamps: list[Clamp]) -> np.ndarray:
        clipped = np.clip(velocities, -self.vmax, self.vmax)
        for i in np.flatnonzero(clipped != velocities):
            clamps.append(Clamp(ClampKind.VELOCITY_LIMIT, self.names[i], float(velocities[i]), float(clipped[i]),
                                float(self.vmax[i]), f"{self.names[i]}: velocity command {velocities[i]:+.3f} rad/s "
                                f"beyond the limit {self.vmax[i]:.3f} rad/s (limit - margin); clamped"))
        return clipped

    def _rate_limit(self, v_des: np.ndarray, v: np.ndarray, q: np.ndarray, vlim: np.ndarray) -> np.ndarray:
        """Clip the desired velocity to the velocity, acceleration and position-braking bounds."""
        dt, a = self.period, self.amax
        acc_lo, acc_hi = v - a * dt, v + a * dt
        up = _brake_speed(np.maximum(self.upper, q) - q, a, dt)
        down = _brake_speed(q - np.minimum(self.lower, q), a, dt)
        v_lo, v_hi = np.maximum(-vlim, -down), np.minimum(vlim, up)
        lo, hi = np.maximum(acc_lo, v_lo), np.minimum(acc_hi, v_hi)
        # Where the bounds conflict (moving faster than now allowed), decelerate as hard as allowed.
        lo = np.where(acc_lo > v_hi, acc_lo, np.where(acc_hi < v_lo, acc_hi, lo))
        hi = np.where(acc_lo > v_hi, acc_lo, np.where(acc_hi < v_lo, acc_hi, hi))
        return np.clip(v_des, lo, hi)

    def _workspace_violation(self, q: np.ndarray) -> tuple[float, str]:
        """Total distance (m) of the tool points outside the box, and a message naming the worst axis."""
        ws, margin = self.description.workspace, self.config.workspace_margin_m
        total, worst, msg = 0.0, 0.0, ""
        for point, p in self.description.kinematics.tool_points(q).items():
            viol = ws.violation(p, margin)
            total += float(viol.sum())
            j = int(np.argmax(viol))
            if viol[j] > worst:
                worst = float(viol[j])
                bound = ws.lower[j] + margin if p[j] < ws.lower[j] + margin else ws.upper[j] - margin
                msg = f"{point} {'xyz'[j]} = {p[j]:.4f} m would pass the workspace bound {bound:.4f} m"
        return total, msg

    def _sync_decel(self, v: np.ndarray) -> np.ndarray:
        """Next velocity of a synchronised stop: every joint slows by |v_i| * dt / T, T = max_i |v_i| / a_i."""
        t_stop = float(np.max(np.abs(v) / self.amax))
        return v * (1.0 - self.period / t_stop) if t_stop > self.period else np.zeros(self.n)

    def _wall_rows(self, q: np.ndarray, q_to: np.ndarray, dq: np.ndarray) -> list[tuple[np.ndarray, float, str]]:
        """The workspace walls that the tool points pass at ``q_to`` while moving towards them along ``dq``
        (joint direction): one (outward Jacobian row (n,) m/rad, room at ``q`` (m, >= 0), label) per wall."""
        ws, margin = self.description.workspace, self.config.workspace_margin_m
        lo, hi = ws.lower + margin, ws.upper - margin
        far = self.description.kinematics.tool_points(q_to)
        rows = []
        for point, (p, jac) in self.description.kinematics.tool_point_jacobians(q).items():
            for j in range(3):
                for sign, bound, out in ((-1.0, lo[j], far[point][j] < lo[j]), (1.0, hi[j], far[point][j] > hi[j])):
                    g = sign * jac[j]
                    if out and float(g @ dq) > 0.0:  # beyond this wall there, and heading for it
                        rows.append((g, max(sign * (bound - p[j]), 0.0), f"{point} {'xyz'[j]}"))
        return rows

    @staticmethod
    def _outward_basis(rows: list[tuple[np.ndarray, float, str]]) -> list[np.ndarray]:
        """Orthonormal basis of the walls' Jacobian rows (Gram-Schmidt: a handful of 7-vectors, no LAPACK,
        which costs up to ~1 ms on a loaded machine)."""
        basis: list[np.ndarray] = []
        for g, _, _ in rows:
            u = g - sum((b @ g) * b for b in basis)
            norm = float(np.linalg.norm(u))
            if norm > 1e-9:
                basis.append(u / norm)
        return basis

    def _target_in_box(self) -> bool:
        """Whether this cycle's position target (after the limit and jump clamps) has the tool points inside
        the box: workspace shaping on the way there is then the filter's doing (braking, the curvature of
        a joint-space step), not a violation by the command, and never counts towards a fault."""
        t = self._shaped_target
        return t is not None and self._workspace_violation(t)[0] <= 0.0

    def _workspace_clamp(self, requested: float, applied: float, message: str) -> Clamp:
        kind = ClampKind.RATE_LIMIT if self._target_in_box() else ClampKind.WORKSPACE
        return Clamp(kind, None, requested, applied, 0.0, message)

    def _workspace_lookahead(self, q: np.ndarray, v: np.ndarray, v_new: np.ndarray, clamps: list[Clamp]) -> np.ndarray:
        """Brake now if stopping from the next setpoint would take a tool point out of the workspace box, so
        the arm does not hit the box wall at speed (the hard cut in ``_workspace`` is the net). Only motion
        towards the walls in question is braked: the part of the motion along them is kept (a push can slide
        along the table), and a wall the point is not heading for brakes nothing."""
        dt = self.period
        q_next = q + v_new * dt
        t_stop = float(np.max(np.abs(v_new) / self.amax))
        q_stop = q_next + v_new * (0.5 * t_stop)  # a synchronised stop covers ~ v * T / 2
        viol_stop, msg = self._workspace_violation(q_stop)
        if viol_stop <= 0.0 or viol_stop <= self._workspace_violation(q)[0]:
            return v_new
        rows = self._wall_rows(q, q_stop, v_new)
        if not rows:
            return v_new  # moving along or away from the walls the extrapolation crosses
        braked = self._sync_decel(v)
        if np.all(np.abs(braked) >= np.abs(v_new)) and np.all(np.sign(braked) == np.sign(v_new)):
            return v_new  # already slower than braking would make it
        basis = self._outward_basis(rows)
        # Braked towards the walls, as desired along them; within the acceleration and velocity limits.
        slide = braked + (v_new - braked) - sum((u @ (v_new - braked)) * u for u in basis)
        a, vlim = self.amax * dt, self.vmax * self.speed_scale
        slide = np.clip(np.clip(slide, v - a, v + a), -vlim, vlim)
        outward = np.array([g for g, _, _ in rows])
        if np.any(outward @ slide > np.maximum(outward @ braked, 0.0) + 1e-12):
            slide = braked  # the limits put motion back towards a wall: brake it all
        else:
            t_slide = float(np.max(np.abs(slide) / self.amax))
            if self._workspace_violation(q + slide * (dt + 0.5 * t_slide))[0] > self._workspace_violation(q)[0]:
                slide = braked  # a stop from the sliding motion would still leave the box (curvature)
        clamps.append(self._workspace_clamp(
            float(np.max(np.abs(v_new))), float(np.max(np.abs(slide))),
            f"workspace: braking towards the wall, a stop from here would leave the box ({msg})"))
        return slide

    def _workspace(self, q: np.ndarray, q_new: np.ndarray, clamps: list[Clamp]) -> np.ndarray:
        """Keep the step q -> q_new inside the workspace box (or not further out when already outside): the
        part of the step through a wall is removed and the rest kept (sliding along it); what still leaves
        the box is cut back (bisection on the step)."""
        if not np.any(q_new != q):
            return q_new
        viol_new, msg = self._workspace_violation(q_new)
        if viol_new <= 0.0:
            return q_new
        viol_now, _ = self._workspace_violation(q)
        if viol_now > 0.0:
            if viol_new <= viol_now:
                return q_new  # already outside (e.g. activated there): moving back in is allowed
            clamps.append(self._workspace_clamp(1.0, 0.0, f"workspace: {msg}; already outside, step held"))
            return q.copy()
        step = q_new - q
        rows = self._wall_rows(q, q_new, step)
        for _ in range(3):  # cyclic projection onto the half-spaces g . dq <= room
            for g, room, _ in rows:
                excess = float(g @ step) - room
                if excess > 0.0:
                    step = step - g * (excess / float(g @ g))
        if self._workspace_violation(q + step)[0] > 0.0:  # (the linearisation fell short) bisection
            lo, hi = 0.0, 1.0
            for _ in range(20):
                mid = 0.5 * (lo + hi)
                if self._workspace_violation(q + mid * step)[0] > 0.0:
                    hi = mid
                else:
                    lo = mid
            step = lo * step
        out = q + step
        kept = float(np.linalg.norm(step)) / max(float(np.linalg.norm(q_new - q)), 1e-12)
        clamps.append(self._workspace_clamp(1.0, kept, f"workspace: {msg}; the step through the wall was removed "
                                            f"({kept:.3f} of the step kept, along the wall)"))
        return out
