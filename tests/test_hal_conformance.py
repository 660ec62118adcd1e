"""One contract, every arm backend: lifecycle, readings, tracking, stop, e-stop, gating.

Parametrised over ``backend_names()``, so a new backend is tested the day it is registered. Each test drives
the arm in lock-step with a ManualClock (``ArmHarness``): deterministic, no sleeping.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from skill_rl.hardware import (
    FaultCode,
    HalFaultError,
    HalState,
    HalStateError,
    JointPositionCommand,
    JointVelocityCommand,
    Motion,
    backend_names,
    make_backend,
)
from skill_rl.hardware.testing import ArmHarness
from tests._extras import require

BACKENDS = backend_names()
# The simulators lag their setpoints differently; a small soft start keeps the tests short.
SAFETY = {"soft_start_s": 0.1}


def test_every_registered_backend_is_covered():
    assert set(BACKENDS) >= {"fake", "mujoco", "pybullet"}


@pytest.fixture(params=BACKENDS)
def harness(request):
    if request.param == "pybullet":
        require("pybullet", extra="sim")
    if request.param == "ros2":
        pytest.skip("the ros2 backend needs a ROS 2 arm driver on the network: tests/test_ros_backend.py runs it against one")
    h = ArmHarness(request.param, safety=SAFETY)
    yield h
    if h.arm.state is not HalState.FINALIZED:
        h.arm.shutdown()


def test_lifecycle_transitions_and_errors(harness):
    arm = harness.arm
    assert arm.state is HalState.UNCONFIGURED
    with pytest.raises(HalStateError, match=r"cannot activate\(\).*UNCONFIGURED.*configure\(\)"):
        arm.activate()
    with pytest.raises(HalStateError, match="UNCONFIGURED"):
        arm.read()
    arm.configure()
    assert arm.state is HalState.INACTIVE
    with pytest.raises(HalStateError, match=r"cannot configure\(\).*INACTIVE.*activate\(\), cleanup\(\), shutdown\(\)"):
        arm.configure()
    arm.activate()
    assert arm.state is HalState.ACTIVE
    assert arm.allowed_transitions() == ("deactivate", "shutdown")
    arm.deactivate()
    assert arm.state is HalState.INACTIVE
    arm.cleanup()
    assert arm.state is HalState.UNCONFIGURED
    arm.configure()
    arm.activate()
    arm.shutdown()  # from ACTIVE: holds, disconnects
    assert arm.state is HalState.FINALIZED
    with make_backend(arm.backend_name) as other:  # a with block shuts the arm down on exit
        other.configure()
        other.activate()
    assert other.state is HalState.FINALIZED
    for transition in (arm.configure, arm.activate, arm.reset, arm.shutdown):
        with pytest.raises(HalStateError, match="FINALIZED"):
            transition()


def test_read_shapes_units_and_monotonic_stamps(harness):
    arm = harness.arm
    arm.configure()
    desc = arm.description
    states = []
    for _ in range(5):
        harness.clock.advance(harness.period)
        states.append(arm.read())
        arm.step(harness.period)
    for s in states:
        assert s.names == desc.joint_names
        for arr in (s.position, s.velocity, s.effort):
            assert arr.shape == (7,) and arr.dtype == np.float64 and np.all(np.isfinite(arr))
        assert np.all(s.position >= desc.limits.lower) and np.all(s.position <= desc.limits.upper)
        np.testing.assert_allclose(s.position, desc.home, atol=0.02)  # radians, at the home posture
        assert np.all(np.abs(s.velocity) < 0.1)  # rad/s, at rest
        assert np.all(np.abs(s.effort) <= desc.limits.effort + 1e-6)  # N m
    stamps = [s.stamp for s in states]
    assert all(b > a for a, b in zip(stamps[:-1], stamps[1:], strict=True))
    assert [s.seq for s in states] == sorted({s.seq for s in states})
    with pytest.raises(ValueError):
        states[0].position[0] = 1.0  # readings are read-only

    # With the default clock the stamps are time.monotonic() seconds.
    real = make_backend(arm.backend_name)
    real.configure()
    try:
        before = time.monotonic()
        a, b = real.read(), real.read()
        after = time.monotonic()
        assert before <= a.stamp <= b.stamp <= after
    finally:
        real.shutdown()


def test_write_then_read_tracks_a_small_joint_move(harness):
    arm = harness.start().arm
    q0 = arm.read().position
    target = q0 + np.array([0.1, -0.1, 0.1, 0.1, -0.1, 0.1, -0.1])
    cycles = harness.run(120, lambda s: harness.position(target))
    q = arm.read().position
    np.testing.assert_allclose(q, target, atol=0.01)
    assert all(isinstance(c.applied, JointPositionCommand) for c in cycles)
    # The applied setpoints move monotonically towards the target, never past it.
    applied = np.array([c.applied.positions for c in cycles])
    assert np.all(np.abs(applied - q0) <= np.abs(target - q0) + 1e-9)
    assert arm.state is HalState.ACTIVE and arm.fault is None


def test_stop_decelerates_within_the_acceleration_limit_and_holds(harness):
    arm = harness.start().arm
    dt, amax = harness.period, arm.description.limits.acceleration
    speed = np.full(7, 0.5)
    harness.run(40, lambda s: harness.velocity(speed))
    v_before = arm.last_report.velocities
    np.testing.assert_allclose(v_before, speed, atol=1e-9)  # setpoint at full commanded speed
    arm.stop()
    cycles = harness.run(60)
    v = np.array([v_before] + [c.report.velocities for c in cycles])
    assert np.all(np.abs(np.diff(v, axis=0)) <= amax * dt + 1e-9)
    n_stop = int(np.ceil(np.max(speed / amax) / dt)) + 1
    assert np.all(v[n_stop:] == 0.0)
    held = np.array([c.applied.values for c in cycles[n_stop:]])
    assert isinstance(cycles[-1].applied, JointVelocityCommand)
    assert cycles[-1].report.motion is Motion.HOLD and arm.is_stopped
    harness.run(30)
    assert np.all(np.abs(arm.read().velocity) < 0.05)  # the arm itself came to rest
    assert np.all(held == 0.0) and arm.state is HalState.ACTIVE


def test_estop_latches_and_blocks_motion_until_reset(harness):
    arm = harness.start().arm
    harness.run(30, lambda s: harness.velocity(np.full(7, 0.4)))
    arm.estop()
    assert arm.state is HalState.FAULT and arm.fault.code is FaultCode.ESTOP
    harness.settle(0.3)
    q_settled = arm.read().position
    with pytest.raises(HalFaultError, match="ESTOP"):
        arm.write(harness.position(q_settled + 0.05))
    with pytest.raises(HalStateError, match=r"FAULT.*reset\(\)"):
        arm.activate()
    if arm.gripper is not None:
        with pytest.raises(HalFaultError):
            arm.gripper.command(0.01)
    harness.settle(0.3)
    np.testing.assert_allclose(arm.read().position, q_settled, atol=2e-3)  # nothing moved
    arm.reset()
    assert arm.state is HalState.INACTIVE and arm.fault is None
    arm.activate()
    c = harness.cycle()
    np.testing.assert_allclose(c.applied.values, c.state.position, atol=1e-12)  # re-seeded: no jump
    target = c.state.position + 0.05
    harness.run(80, lambda s: harness.position(target))
    np.testing.assert_allclose(arm.read().position, target, atol=0.01)  # moves again


def test_write_while_inactive_is_rejected_and_sends_nothing(harness):
    arm = harness.arm
    arm.configure()
    q0 = arm.read().position
    with pytest.raises(HalStateError, match=r"cannot write\(\).*INACTIVE.*activate"):
        arm.write(harness.position(q0 + 0.2))
    harness.settle(0.2)
    np.testing.assert_allclose(arm.read().position, q0, atol=2e-3)
    arm.activate()
    arm.deactivate()
    with pytest.raises(HalStateError, match="INACTIVE"):
        arm.write(harness.position(q0 + 0.2))
    if arm.gripper is not None:
        with pytest.raises(HalStateError):
            arm.gripper.command(0.01)


def test_gripper_moves_to_the_clamped_width(harness):
    arm = harness.start().arm
    g = arm.gripper
    assert g is not None
    spec = arm.description.gripper
    applied = g.command(0.03, speed=0.5, force=500.0)
    assert (applied.width, applied.speed, applied.force) == (0.03, spec.max_speed, spec.max_force)
    harness.run(80)
    assert g.read() == pytest.approx(0.03, abs=3e-3)
    assert g.command(1.0).width == spec.max_width
    with pytest.raises(ValueError, match="finite"):
        g.command(float("nan"))
