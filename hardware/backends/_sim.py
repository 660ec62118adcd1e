"""Shared base of the simulated arms (fake, MuJoCo, pybullet): physics advances by ``step(dt)``."""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..description import RobotDescription
from ..hal import ArmHAL
from ..safety import SafetyConfig
from ..types import HalState, HalStateError


class SimulatedArm(ArmHAL):
    """An ``ArmHAL`` over a simulator. ``step(dt)`` advances the physics by ``dt`` seconds; with
    ``auto_step=True`` each ``read()`` first advances it by the clock time since the previous read (at most
    ``max_auto_step_s``), so a sim arm can run in a real-time loop (e.g. under a ROS 2 node) unchanged.

    ``initial_positions``: (n,) rad at configure time (default: the description's home posture).
    """

    def __init__(self, description: RobotDescription | str | None = None, *,
                 safety: Mapping[str, Any] | SafetyConfig | None = None, clock: Callable[[], float] = time.monotonic,
                 initial_positions: Any = None, auto_step: bool = False, max_auto_step_s: float = 0.1):
        super().__init__(description, safety=safety, clock=clock)
        q0 = self.description.home if initial_positions is None else initial_positions
        q0 = np.array(q0, dtype=np.float64)
        if q0.shape != (self.n_joints,) or not np.all(np.isfinite(q0)):
            raise ValueError(f"initial_positions must be {self.n_joints} finite numbers (rad), got {initial_positions!r}")
        self.initial_positions = q0
        self.auto_step = auto_step
        self.max_auto_step_s = max_auto_step_s
        self._last_auto: float | None = None
        self.sim_time = 0.0  # simulated seconds since configure()

    def step(self, dt: float) -> None:
        """Advance the simulation by ``dt`` > 0 seconds (the arm keeps following its last setpoint)."""
        with self._lock:
            self._locked_step(dt)

    def _locked_step(self, dt: float) -> None:
        if not self._configured or self.state in (HalState.UNCONFIGURED, HalState.FINALIZED):
            raise HalStateError(f"cannot step() {self.backend_name} arm in state {self.state.name}: configure() it first",
                                self.state, self.allowed_transitions())
        if not (dt > 0 and np.isfinite(dt)):
            raise ValueError(f"step() needs dt > 0 seconds, got {dt!r}")
        self._step(float(dt))
        self.sim_time += float(dt)

    def _read_hw(self):
        if self.auto_step:
            now = self.clock()
            if self._last_auto is not None:
                dt = min(max(now - self._last_auto, 0.0), self.max_auto_step_s)
                if dt > 0:
                    self.step(dt)
            self._last_auto = now
        return self._read_sim()

    @abc.abstractmethod
    def _step(self, dt: float) -> None:
        """Advance the physics by dt seconds."""

    @abc.abstractmethod
    def _read_sim(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(position rad, velocity rad/s, effort N*m), each (n,)."""
