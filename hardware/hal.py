"""The arm hardware abstraction: ``ArmHAL`` (a managed-node lifecycle around a backend) and ``Gripper``.

Lifecycle (ROS 2 managed nodes / ros2_control hardware components, plus a latched FAULT)::

    UNCONFIGURED --configure--> INACTIVE --activate--> ACTIVE
    UNCONFIGURED <--cleanup---- INACTIVE <-deactivate- ACTIVE
    any but FINALIZED --shutdown--> FINALIZED
    any but FINALIZED --estop() / safety fault / read failure--> FAULT --reset--> INACTIVE (UNCONFIGURED if
    it was never configured)

- UNCONFIGURED: no connection. INACTIVE: connected, ``read()`` works, commands are refused. ACTIVE: commands
  go through the ``SafetyFilter`` to the arm. FAULT: latched; nothing moves until ``reset()`` and a new
  ``activate()``, which re-seeds the setpoint from the measured state (franka error_recovery, UR
  unlock_protective_stop). An invalid transition raises ``HalStateError`` naming the state and the
  transitions allowed from it.
- ``read()`` -> ``JointState`` (monotonic stamp, names, rad, rad/s, N*m). A failing backend read is retried
  ``read_retries`` times (LeRobot max_read_retry), then the arm latches FAULT (READ_FAILURE). Non-finite or
  mis-shaped state latches FAULT too.
- ``write(cmd)`` runs one control cycle of the safety filter and returns the command actually applied
  (LeRobot send_action). ``cmd`` may be None ("no new command this cycle"): the filter keeps tracking the
  last target, runs the watchdog and decelerations. Call ``read()`` then ``write()`` once per cycle at
  ``description.nominal_rate_hz``.
- ``stop()`` decelerates to zero velocity (the next cycles' writes do it); ``estop()`` latches FAULT and
  holds at once.

Backends subclass ``ArmHAL`` and implement only the hooks ``_read_hw``, ``_write_hw``, ``_hold_hw`` (and
optionally ``_on_configure`` ...). The public methods are final: a subclass that overrides ``write``,
``read`` or a transition fails at class creation, so no backend can bypass the filter or the lifecycle.
"""

from __future__ import annotations

import abc
import functools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from .description import GripperSpec, RobotDescription, load_description
from .safety import FilterReport, SafetyConfig, SafetyFilter
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
    "DescriptionError",
    "Fault",
    "FaultCode",
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
]

S = HalState
# transition -> {from state: to state}. reset's target depends on whether the arm was configured.
TRANSITIONS: dict[str, dict[HalState, HalState]] = {
    "configure": {S.UNCONFIGURED: S.INACTIVE},
    "activate": {S.INACTIVE: S.ACTIVE},
    "deactivate": {S.ACTIVE: S.INACTIVE},
    "cleanup": {S.INACTIVE: S.UNCONFIGURED},
    "shutdown": {S.UNCONFIGURED: S.FINALIZED, S.INACTIVE: S.FINALIZED, S.ACTIVE: S.FINALIZED, S.FAULT: S.FINALIZED},
    "reset": {S.FAULT: S.INACTIVE},
}


F = TypeVar("F", bound=Callable[..., Any])


def _locked(method: F) -> F:
    """Run under the arm's re-entrant lock, so that an estop() from a ROS service thread cannot interleave
    with the control loop's read()/write()."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def allowed_transitions(state: HalState) -> tuple[str, ...]:
    """Names of the lifecycle transitions allowed from ``state`` (estop is allowed from any but FINALIZED)."""
    return tuple(name for name, table in TRANSITIONS.items() if state in table)


class _Final:
    """Forbid subclasses to override the listed public methods (they run the lifecycle and the filter)."""

    _FINAL: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__mro__[1:]:
            final = base.__dict__.get("_FINAL", ())
            bad = [name for name in final if name in cls.__dict__]
            if bad:
                raise TypeError(
                    f"{cls.__name__} overrides {', '.join(bad)} of {base.__name__}: these run the lifecycle and the "
                    f"safety filter and are final; implement the _on_* / *_hw hooks instead"
                )


class ArmHAL(_Final, abc.ABC):
    """A robot arm behind the safety filter. See the module docstring for the lifecycle.

    description: a ``RobotDescription``, or a name/path for ``load_description`` (default ``"panda"``).
    safety: overrides of the description's ``safety:`` section (a mapping) or a whole ``SafetyConfig``.
    clock: zero-argument callable returning monotonic seconds (default ``time.monotonic``); stamps every
    ``JointState`` and drives the filter's timers.
    """

    _FINAL = ("configure", "activate", "deactivate", "cleanup", "shutdown", "reset", "read", "write", "stop",
              "estop", "state", "fault")
    #: Short backend name (the registry key), for messages.
    backend_name: ClassVar[str] = "arm"

    def __init__(self, description: RobotDescription | str | None = None, *,
                 safety: Mapping[str, Any] | SafetyConfig | None = None, clock: Callable[[], float] = time.monotonic):
        if not isinstance(description, RobotDescription):
            description = load_description(description or "panda")
        self.description = description
        self.clock = clock
        self._lock = threading.RLock()
        self.safety_filter = SafetyFilter(description, SafetyConfig.from_description(description, safety), clock=clock)
        self._state = HalState.UNCONFIGURED
        self._configured = False
        self._fault: Fault | None = None
        self._last_state: JointState | None = None
        self._last_report: FilterReport | None = None
        self._seq = 0
        #: Counters for diagnostics: reads, read_retries (failed attempts that a retry fixed), writes, faults.
        self.stats = {"reads": 0, "read_retries": 0, "writes": 0, "faults": 0}

    # ------------------------------------------------------------ introspection
    @property
    def state(self) -> HalState:
        return self._state

    @property
    def fault(self) -> Fault | None:
        """The latched fault while in FAULT, else None."""
        return self._fault

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.description.joint_names

    @property
    def n_joints(self) -> int:
        return self.description.n_joints

    @property
    def safety(self) -> SafetyConfig:
        return self.safety_filter.config

    @property
    def last_state(self) -> JointState | None:
        """The latest successful ``read()``."""
        return self._last_state

    @property
    def last_report(self) -> FilterReport | None:
        """The safety filter's report of the latest ``write()`` (publish it as diagnostics)."""
        return self._last_report

    @property
    def is_stopped(self) -> bool:
        """True when the setpoint is at rest (after ``stop()``, the watchdog, or with no command)."""
        return self.safety_filter.is_stopped

    @property
    def gripper(self) -> Gripper | None:
        """The gripper of this arm, if it has one."""
        return None

    def allowed_transitions(self) -> tuple[str, ...]:
        return allowed_transitions(self._state)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description.name!r}, state={self._state.name})"

    def __enter__(self) -> ArmHAL:
        return self

    def __exit__(self, *exc: Any) -> None:
        """Leaving a ``with`` block shuts the arm down (holds, disconnects), whatever happened inside."""
        if self._state is not HalState.FINALIZED:
            self.shutdown()

    # ------------------------------------------------------------ lifecycle
    def _transition(self, name: str) -> HalState:
        table = TRANSITIONS[name]
        if self._state not in table:
            allowed = allowed_transitions(self._state)
            raise HalStateError(
                f"cannot {name}() {self.backend_name} arm in state {self._state.name}; allowed from "
                f"{self._state.name}: {', '.join(f'{a}()' for a in allowed) or 'none (FINALIZED is terminal)'}",
                self._state, allowed,
            )
        return table[self._state]

    @_locked
    def configure(self) -> None:
        """UNCONFIGURED -> INACTIVE: connect to the arm (reads work afterwards)."""
        target = self._transition("configure")
        try:
            self._on_configure()
        except Exception as e:
            raise HalError(f"configure() of {self.backend_name} arm failed, still UNCONFIGURED: {e}") from e
        self._configured = True
        self._state = target

    @_locked
    def activate(self) -> None:
        """INACTIVE -> ACTIVE: power the arm, seed the setpoint from a fresh reading, start the soft start."""
        target = self._transition("activate")
        try:
            self._on_activate()
        except Exception as e:
            raise HalError(f"activate() of {self.backend_name} arm failed, still INACTIVE: {e}") from e
        measured = self.read()  # raises HalFaultError (and latches) if the arm cannot be read
        self.safety_filter.activate(measured)
        self._last_report = None
        self._state = target

    @_locked
    def deactivate(self) -> None:
        """ACTIVE -> INACTIVE: hold in place and refuse commands. For a smooth stop call ``stop()`` and keep
        cycling until ``is_stopped`` first."""
        target = self._transition("deactivate")
        self._safe_hold()
        self.safety_filter.deactivate()
        self._on_deactivate()
        self._state = target

    @_locked
    def cleanup(self) -> None:
        """INACTIVE -> UNCONFIGURED: disconnect."""
        target = self._transition("cleanup")
        self._on_cleanup()
        self._configured = False
        self._state = target

    @_locked
    def shutdown(self) -> None:
        """Any state but FINALIZED -> FINALIZED (holds and disconnects on the way, best effort)."""
        target = self._transition("shutdown")
        errors = []
        steps = []
        if self._state is HalState.ACTIVE:
            steps += [self._hold_hw, self._on_deactivate]
        if self._configured:
            steps.append(self._on_cleanup)
        steps.append(self._on_shutdown)
        for step in steps:
            try:
                step()
            except Exception as e:  # keep shutting down; report at the end
                errors.append(f"{step.__name__}: {e}")
        self.safety_filter.deactivate()
        self._configured = False
        self._state = target
        if errors:
            raise HalError(f"{self.backend_name} arm FINALIZED with errors: {'; '.join(errors)}")

    @_locked
    def reset(self) -> None:
        """FAULT -> INACTIVE (UNCONFIGURED if never configured): clear the latched fault. Explicit operator
        action; call ``activate()`` afterwards to move again."""
        self._transition("reset")
        self._on_reset()
        self._fault = None
        self.safety_filter.reset()
        self._state = HalState.INACTIVE if self._configured else HalState.UNCONFIGURED

    # ------------------------------------------------------------ cyclic I/O
    @_locked
    def read(self) -> JointState:
        """Read the arm: a ``JointState`` with arrays of shape (n_joints,), stamped with ``clock()``.

        Allowed in INACTIVE, ACTIVE and FAULT. Retries ``safety.read_retries`` times, then latches FAULT
        (READ_FAILURE) and raises ``HalFaultError``; non-finite values latch NON_FINITE_STATE.
        """
        if self._state not in (HalState.INACTIVE, HalState.ACTIVE, HalState.FAULT):
            raise HalStateError(
                f"cannot read() {self.backend_name} arm in state {self._state.name}: configure() it first",
                self._state, allowed_transitions(self._state),
            )
        retries = self.safety.read_retries
        errors: list[str] = []
        raw = None
        for _attempt in range(retries + 1):
            try:
                raw = self._read_hw()
                break
            except Exception as e:  # any backend exception counts as a failed read
                errors.append(f"{type(e).__name__}: {e}")
        if raw is None:
            message = f"read failed {len(errors)} times in a row ({retries} retries): {errors[-1]}"
            raise HalFaultError(self._enter_fault(Fault(FaultCode.READ_FAILURE, message)))
        self.stats["read_retries"] += len(errors)
        names = self.joint_names
        if not isinstance(raw, (tuple, list)) or len(raw) != 3:
            message = f"backend read returned {type(raw).__name__}, not (position, velocity, effort)"
            raise HalFaultError(self._enter_fault(Fault(FaultCode.STATE_MISMATCH, message)))
        arrays = []
        for label, values in zip(("position", "velocity", "effort"), raw, strict=True):
            arr = np.asarray(values, dtype=np.float64)
            if arr.shape != (self.n_joints,):
                message = f"backend returned {label} of shape {arr.shape}, expected ({self.n_joints},)"
                raise HalFaultError(self._enter_fault(Fault(FaultCode.STATE_MISMATCH, message)))
            bad = np.flatnonzero(~np.isfinite(arr))
            if bad.size:
                i = int(bad[0])
                fault = Fault(FaultCode.NON_FINITE_STATE, f"joint {names[i]!r}: measured {label} is {arr[i]}",
                              joint=names[i], value=float(arr[i]))
                raise HalFaultError(self._enter_fault(fault))
            arrays.append(arr)
        self._seq += 1
        self.stats["reads"] += 1
        state = JointState(self.clock(), names, arrays[0], arrays[1], arrays[2], seq=self._seq)
        self._last_state = state
        return state

    @_locked
    def write(self, cmd: JointCommand | None = None) -> JointCommand:
        """One control cycle: filter ``cmd`` (or None: no new command) and send the result to the arm.

        Returns the command actually applied: a ``JointPositionCommand`` (setpoint, rad) for position
        commands, a ``JointVelocityCommand`` (setpoint velocity, rad/s) for velocity commands, stamped with
        this cycle's clock. ``last_report`` says what was clamped and why. Raises ``HalStateError`` unless
        ACTIVE, ``HalFaultError`` when a fault is latched or this command latched one (nothing is sent).
        """
        if self._state is HalState.FAULT:
            assert self._fault is not None
            raise HalFaultError(self._fault)
        if self._state is not HalState.ACTIVE:
            raise HalStateError(
                f"cannot write() to {self.backend_name} arm in state {self._state.name}: commands need ACTIVE "
                f"(allowed from {self._state.name}: {', '.join(allowed_transitions(self._state)) or 'none'})",
                self._state, allowed_transitions(self._state),
            )
        report = self.safety_filter.update(cmd, self._last_state)
        self._last_report = report
        if report.fault is not None:
            raise HalFaultError(self._enter_fault(report.fault))
        assert report.send and report.positions is not None and report.velocities is not None
        try:
            self._write_hw(report.positions.copy(), report.velocities.copy())
        except Exception as e:
            fault = Fault(FaultCode.WRITE_FAILURE, f"backend write failed: {type(e).__name__}: {e}")
            raise HalFaultError(self._enter_fault(fault)) from e
        self.stats["writes"] += 1
        if report.command_kind == "velocity":
            return JointVelocityCommand(report.velocities, report.stamp, self.joint_names)
        return JointPositionCommand(report.positions, report.stamp, self.joint_names)

    @_locked
    def stop(self) -> None:
        """Decelerate to zero velocity within the acceleration limits, then hold (the following ``write()``
        cycles do it). Commands stamped before this call are refused; a newer one resumes motion. No-op
        unless ACTIVE."""
        if self._state is HalState.ACTIVE:
            self.safety_filter.request_stop()

    @_locked
    def estop(self, reason: str = "estop() called") -> None:
        """Latch FAULT (ESTOP) and hold immediately. Nothing moves until ``reset()`` and ``activate()``.

        A software stop: the robot's safety-rated e-stop circuit is separate and always wins.
        """
        if self._state is HalState.FINALIZED:
            raise HalStateError("cannot estop() a FINALIZED arm", self._state, ())
        self._enter_fault(Fault(FaultCode.ESTOP, reason))

    @_locked
    def latch_fault(self, code: FaultCode, message: str) -> Fault:
        """Latch FAULT for a reason found outside the HAL (e.g. the executor's heartbeat stopped) and hold;
        returns the latched fault (the first one stays). Same recovery as any fault: ``reset()``, ``activate()``."""
        if self._state is HalState.FINALIZED:
            raise HalStateError("cannot latch a fault on a FINALIZED arm", self._state, ())
        return self._enter_fault(Fault(FaultCode(code), message))

    @_locked
    def set_speed_scale(self, scale: float) -> None:
        """Operator speed override in [0, 1] on top of the soft start (UR speed slider)."""
        self.safety_filter.set_speed_scale(scale)

    # ------------------------------------------------------------ faults
    def _enter_fault(self, fault: Fault) -> Fault:
        """Latch ``fault`` (the first one stays), go to FAULT, hold; returns the latched fault."""
        latched = self.safety_filter.latch(fault)
        if self._fault is None:
            self._fault = latched
            self.stats["faults"] += 1
        self._state = HalState.FAULT
        self._safe_hold()
        return self._fault

    def _safe_hold(self) -> None:
        if self._configured:
            try:
                self._hold_hw()
            except Exception:  # noqa: BLE001 - best effort: the fault is already latched
                pass

    # ------------------------------------------------------------ backend hooks
    def _on_configure(self) -> None:
        """Connect (open the simulator, the socket, the bus)."""

    def _on_activate(self) -> None:
        """Power the arm / release brakes / start the command stream."""

    def _on_deactivate(self) -> None:
        """Stop accepting commands on the arm side."""

    def _on_cleanup(self) -> None:
        """Disconnect."""

    def _on_shutdown(self) -> None:
        """Release everything (after cleanup when it was configured)."""

    def _on_reset(self) -> None:
        """Clear the arm-side error (e.g. franka automaticErrorRecovery) before leaving FAULT."""

    @abc.abstractmethod
    def _read_hw(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position rad, velocity rad/s, effort N*m), each (n_joints,). Raise on a failed read."""

    @abc.abstractmethod
    def _write_hw(self, positions: np.ndarray, velocities: np.ndarray) -> None:
        """Send a filtered setpoint: positions (n,) rad and their velocity (n,) rad/s."""

    @abc.abstractmethod
    def _hold_hw(self) -> None:
        """Stop where the arm is now (fault, e-stop, deactivate): e.g. command the measured position."""


class Gripper(_Final, abc.ABC):
    """A parallel gripper of an arm. Commands are clamped to the description's ranges; the gripper only
    moves while its arm is ACTIVE (an e-stop stops it too).

    ``command(width_m, speed, force)``: opening width m, speed m/s, grasp force N; returns what was applied.
    ``read()``: the current opening width, m.
    """

    _FINAL = ("command", "read")

    def __init__(self, spec: GripperSpec, arm: ArmHAL | None = None, clock: Callable[[], float] = time.monotonic):
        self.spec = spec
        self.arm = arm
        self.clock = clock
        self._lock = arm._lock if arm is not None else threading.RLock()

    def command(self, width_m: float, speed: float | None = None, force: float | None = None) -> GripperCommand:
        spec = self.spec
        speed = spec.max_speed if speed is None else speed
        force = spec.max_force if force is None else force
        for label, value in (("width_m", width_m), ("speed", speed), ("force", force)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not np.isfinite(value):
                raise ValueError(f"gripper {label} must be a finite number, got {value!r}")
        if self.arm is not None:
            if self.arm.fault is not None:
                raise HalFaultError(self.arm.fault)
            if self.arm.state is not HalState.ACTIVE:
                raise HalStateError(f"cannot command the gripper while its arm is {self.arm.state.name}",
                                    self.arm.state, self.arm.allowed_transitions())
        applied = GripperCommand(
            width=float(np.clip(width_m, spec.min_width, spec.max_width)),
            speed=float(np.clip(speed, 1e-4, spec.max_speed)),
            force=float(np.clip(force, 0.0, spec.max_force)),
            stamp=self.clock(),
        )
        with self._lock:
            if self.arm is not None and self.arm.state is not HalState.ACTIVE:
                raise HalStateError(f"the arm went {self.arm.state.name} during the gripper command",
                                    self.arm.state, self.arm.allowed_transitions())
            self._command_hw(applied)
        return applied

    def read(self) -> float:
        with self._lock:
            return float(self._read_hw())

    @abc.abstractmethod
    def _command_hw(self, cmd: GripperCommand) -> None:
        """Move towards ``cmd.width`` at ``cmd.speed`` with at most ``cmd.force``."""

    @abc.abstractmethod
    def _read_hw(self) -> float:
        """Current opening width, m."""
