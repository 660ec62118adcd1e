"""Deterministic control loops for tests and offline runs (numpy only).

``ArmHarness`` drives a simulated arm (``FakeArm``, ``MujocoArm``, ``PybulletArm``) in lock-step with a
``ManualClock``: each ``cycle()`` advances the clock by one nominal period, reads, writes one command
(stamped now) and steps the physics by one period, which is what a real control loop does at
``nominal_rate_hz``, minus the waiting. ``FilterRig`` does the same for a bare ``SafetyFilter`` with a
perfectly tracking arm, for filter-level tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .clock import ManualClock
from .description import RobotDescription, load_description
from .safety import FilterReport, SafetyFilter
from .types import JointCommand, JointPositionCommand, JointState, JointVelocityCommand

__all__ = ["ArmHarness", "Cycle", "FilterRig"]


@dataclass(frozen=True, eq=False)
class Cycle:
    """One loop iteration: the state read, the command given, what was applied, the filter's report."""

    state: JointState
    command: JointCommand | None
    applied: JointCommand
    report: FilterReport | None


class ArmHarness:
    """Run a simulated arm cycle by cycle on a ``ManualClock`` (see the module docstring).

    ``arm``: a backend name for ``make_backend`` (extra keyword arguments go to it) or an arm built with
    ``clock=harness.clock``.
    """

    def __init__(self, arm: Any = "fake", *, clock: ManualClock | None = None, **kwargs: Any):
        from .backends import make_backend
        from .backends._sim import SimulatedArm

        self.clock = clock or ManualClock()
        built = make_backend(arm, clock=self.clock, **kwargs) if isinstance(arm, str) else arm
        if not isinstance(built, SimulatedArm):  # cycle() steps the physics
            raise TypeError(f"ArmHarness needs a simulated arm (SimulatedArm), got {type(built).__name__}")
        self.arm: SimulatedArm = built
        self.period = self.arm.description.period

    def start(self) -> ArmHarness:
        """configure() and activate()."""
        self.arm.configure()
        self.arm.activate()
        return self

    def position(self, q: Any) -> JointPositionCommand:
        return JointPositionCommand(np.asarray(q, dtype=np.float64), self.clock())

    def velocity(self, v: Any) -> JointVelocityCommand:
        return JointVelocityCommand(np.asarray(v, dtype=np.float64), self.clock())

    def cycle(self, command: JointCommand | Callable[[JointState], JointCommand | None] | None = None) -> Cycle:
        """Advance the clock one period, read, write ``command`` (or ``command(state)``), step the physics."""
        self.clock.advance(self.period)
        state = self.arm.read()
        cmd = command(state) if callable(command) else command
        applied = self.arm.write(cmd)
        self.arm.step(self.period)
        return Cycle(state, cmd, applied, self.arm.last_report)

    def run(self, n: int, command: Any = None) -> list[Cycle]:
        """``n`` cycles with the same ``command`` argument as ``cycle`` (a callable is re-evaluated each time,
        so ``lambda s: h.position(target)`` streams a freshly stamped target)."""
        return [self.cycle(command) for _ in range(n)]

    def settle(self, seconds: float) -> None:
        """Step the physics without reading or writing (e.g. while in FAULT)."""
        for _ in range(int(round(seconds / self.period))):
            self.clock.advance(self.period)
            self.arm.step(self.period)


class FilterRig:
    """A ``SafetyFilter`` on a ``ManualClock`` with an ideal arm: the measured position of each cycle is the
    previous setpoint (unless ``measured`` is given)."""

    def __init__(self, description: RobotDescription | str | None = None, safety: Mapping[str, Any] | None = None,
                 q0: Any = None, clock: ManualClock | None = None):
        self.description = description if isinstance(description, RobotDescription) else load_description(description or "panda")
        self.clock = clock or ManualClock()
        self.filter = SafetyFilter(self.description, safety, clock=self.clock)
        self.period = self.description.period
        self.q = np.array(self.description.home if q0 is None else q0, dtype=np.float64)
        self.v = np.zeros(self.description.n_joints)
        self.reports: list[FilterReport] = []

    def measured(self) -> JointState:
        n = self.description.n_joints
        return JointState(self.clock(), self.description.joint_names, self.q, self.v, np.zeros(n))

    def activate(self) -> FilterRig:
        self.filter.activate(self.measured())
        return self

    def position(self, q: Any, age: float = 0.0) -> JointPositionCommand:
        return JointPositionCommand(np.asarray(q, dtype=np.float64), self.clock() - age)

    def velocity(self, v: Any, age: float = 0.0) -> JointVelocityCommand:
        return JointVelocityCommand(np.asarray(v, dtype=np.float64), self.clock() - age)

    def cycle(self, command: Any = None, measured: JointState | None = None) -> FilterReport:
        """Advance one period; ``command`` may be a command, None, or a callable of the rig returning one."""
        self.clock.advance(self.period)
        cmd = command(self) if callable(command) else command
        report = self.filter.update(cmd, measured or self.measured())
        if report.send:
            assert report.positions is not None  # a report that sends carries the setpoint
            self.v = (report.positions - self.q) / self.period
            self.q = report.positions.copy()
        self.reports.append(report)
        return report

    def run(self, n: int, command: Any = None) -> list[FilterReport]:
        return [self.cycle(command) for _ in range(n)]
