"""FakeArm: a numpy-only arm that mirrors commands to state with a first-order lag, with injectable faults.

Modelled on ros2_control's ``mock_components/GenericSystem`` ("mirrors commands to states"): the measured
position follows the commanded setpoint as ``tau * dq/dt = target - q`` (``time_constant_s``), plus an
optional constant ``following_offset`` (GenericSystem's position_state_following_offset). Faults to inject,
as tests need them:

- ``fail_next_reads(n)``: the next ``n`` backend reads raise ``HalCommError`` (the HAL retries, then faults);
- ``stick_joint(j)``: joint ``j`` (index or name) stops moving, whatever it is told (a blocked joint);
- ``nan_next_reads(n, joint)``: the next ``n`` reads report NaN for that joint;
- ``set_latency(seconds)``: commands take effect this much simulated time late;
- ``disable_commands(True)``: commands are dropped (GenericSystem's disable_commands).

What the arm was sent is recorded in ``sent`` ((positions, velocities) pairs, the newest ``SENT_KEPT``;
``sent_total`` counts all) and every hold in ``holds``: a spy for tests. Time only moves with ``step(dt)`` (or ``auto_step=True``).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..description import RobotDescription
from ..hal import Gripper
from ..safety import SafetyConfig
from ..types import GripperCommand, HalCommError
from ._sim import SimulatedArm

__all__ = ["FakeArm", "FakeGripper"]


class FakeGripper(Gripper):
    """Width moves towards the commanded width at the commanded speed (in simulated time)."""

    def __init__(self, arm: FakeArm):
        super().__init__(arm.description.gripper, arm, arm.clock)
        self.width = arm.description.gripper.max_width
        self.target = self.width
        self.speed = arm.description.gripper.max_speed
        self.force = 0.0

    def _command_hw(self, cmd: GripperCommand) -> None:
        self.target, self.speed, self.force = cmd.width, cmd.speed, cmd.force

    def _read_hw(self) -> float:
        return self.width

    def advance(self, dt: float) -> None:
        step = self.speed * dt
        self.width += float(np.clip(self.target - self.width, -step, step))


class FakeArm(SimulatedArm):
    """A lagged mirror of its commands (see the module docstring). Extra arguments:

    time_constant_s: first-order lag of the joints, s. following_offset: added to the measured position,
    rad (scalar or (n,)). stiffness: effort reported = stiffness * (setpoint - position), N*m/rad.
    """

    backend_name = "fake"
    SENT_KEPT = 10_000  # setpoints kept in ``sent`` (the newest)

    def __init__(self, description: RobotDescription | str | None = None, *,
                 safety: Mapping[str, Any] | SafetyConfig | None = None, clock: Callable[[], float] = time.monotonic,
                 initial_positions: Any = None, auto_step: bool = False, time_constant_s: float = 0.02,
                 following_offset: float | Any = 0.0, stiffness: float = 100.0):
        super().__init__(description, safety=safety, clock=clock, initial_positions=initial_positions,
                         auto_step=auto_step)
        if not time_constant_s > 0:
            raise ValueError(f"time_constant_s must be > 0, got {time_constant_s!r}")
        self.time_constant_s = float(time_constant_s)
        self.following_offset = np.broadcast_to(np.asarray(following_offset, dtype=np.float64), (self.n_joints,)).copy()
        self.stiffness = float(stiffness)
        # The newest setpoints only: an arm_hal at 500 Hz would otherwise grow this by ~0.7 GB an hour.
        self.sent: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=self.SENT_KEPT)
        self.sent_total = 0  # every setpoint ever sent
        self.holds = 0
        self._gripper = FakeGripper(self)
        self._fail_reads = 0
        self._nan_reads = 0
        self._nan_joint = 0
        self._stuck = np.zeros(self.n_joints, dtype=bool)
        self._latency = 0.0
        self._commands_enabled = True
        self._pending: list[tuple[float, np.ndarray]] = []
        self._q = self.initial_positions.copy()
        self._v = np.zeros(self.n_joints)
        self._target = self._q.copy()

    @property
    def gripper(self) -> FakeGripper:
        return self._gripper

    # ------------------------------------------------------------ fault injection
    def _joint_index(self, joint: int | str) -> int:
        if isinstance(joint, str):
            if joint not in self.joint_names:
                raise KeyError(f"unknown joint {joint!r}; joints: {', '.join(self.joint_names)}")
            return self.joint_names.index(joint)
        if not 0 <= joint < self.n_joints:
            raise IndexError(f"joint index {joint} out of range 0..{self.n_joints - 1}")
        return int(joint)

    def fail_next_reads(self, n: int = 1) -> None:
        """The next ``n`` backend reads raise ``HalCommError``."""
        self._fail_reads = int(n)

    def nan_next_reads(self, n: int = 1, joint: int | str = 0) -> None:
        """The next ``n`` reads report NaN as the position (and velocity) of ``joint``."""
        self._nan_reads, self._nan_joint = int(n), self._joint_index(joint)

    def stick_joint(self, joint: int | str, stuck: bool = True) -> None:
        """Freeze (or free) a joint: it ignores its setpoint."""
        self._stuck[self._joint_index(joint)] = stuck

    def set_latency(self, seconds: float) -> None:
        """Commands take effect ``seconds`` of simulated time after they are written."""
        if seconds < 0:
            raise ValueError(f"latency must be >= 0 s, got {seconds}")
        self._latency = float(seconds)

    def disable_commands(self, disabled: bool = True) -> None:
        """Drop every command (the arm keeps its last setpoint), like a lost command connection."""
        self._commands_enabled = not disabled

    def set_positions(self, q: Any) -> None:
        """Teleport the joints (simulation only): position and setpoint := q, velocity 0."""
        self._q = np.array(q, dtype=np.float64)
        self._target = self._q.copy()
        self._v = np.zeros(self.n_joints)

    # ------------------------------------------------------------ hooks
    def _on_configure(self) -> None:
        self.set_positions(self.initial_positions)
        self._pending.clear()
        self.sim_time = 0.0

    def _step(self, dt: float) -> None:
        t = self.sim_time + dt
        while self._pending and self._pending[0][0] <= t + 1e-12:
            self._target = self._pending.pop(0)[1]
        alpha = 1.0 - math.exp(-dt / self.time_constant_s)
        q_new = self._q + (self._target - self._q) * alpha
        q_new[self._stuck] = self._q[self._stuck]
        self._v = (q_new - self._q) / dt
        self._q = q_new
        self._gripper.advance(dt)

    def _read_sim(self):
        if self._fail_reads > 0:
            self._fail_reads -= 1
            raise HalCommError("injected read failure (FakeArm.fail_next_reads)")
        q = self._q + self.following_offset
        v = self._v.copy()
        if self._nan_reads > 0:
            self._nan_reads -= 1
            q[self._nan_joint] = v[self._nan_joint] = np.nan
        return q, v, self.stiffness * (self._target - self._q)

    def _write_hw(self, positions: np.ndarray, velocities: np.ndarray) -> None:
        self.sent.append((positions.copy(), velocities.copy()))
        self.sent_total += 1
        if not self._commands_enabled:
            return
        if self._latency > 0:
            self._pending.append((self.sim_time + self._latency, positions.copy()))
        else:
            self._target = positions.copy()

    def _hold_hw(self) -> None:
        self.holds += 1
        self._pending.clear()
        self._target = self._q.copy()
