"""Clocks. The HAL and the safety filter take any zero-argument callable returning seconds; the default is
``time.monotonic`` (never wall-clock time: it jumps with NTP). ``ManualClock`` makes tests deterministic and
lets them jump time on purpose."""

from __future__ import annotations


class ManualClock:
    """A clock that only moves when told to: ``clock()`` -> seconds; ``advance(dt)``; ``jump(dt)``.

    ``jump`` may go backwards, which a monotonic clock never does: it exists to test that the filter's
    watchdog survives a broken clock.
    """

    def __init__(self, start: float = 1000.0):
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, dt: float) -> float:
        if dt < 0:
            raise ValueError(f"advance() takes dt >= 0, got {dt}; use jump() for a backwards step")
        self.now += dt
        return self.now

    def jump(self, dt: float) -> float:
        self.now += dt
        return self.now
