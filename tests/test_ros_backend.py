"""The ros2 HAL backend (``skill_rl.hardware.backends.ros2.Ros2Arm``) against a fake ROS 2 arm driver over
real DDS (loopback only), in-process and behind the arm_hal node (launch/real.yaml)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


from tests._extras import require  # noqa: E402

require("rclpy", extra="ros")

from skill_rl.hardware import (  # noqa: E402
    FaultCode,
    HalError,
    HalFaultError,
    HalState,
    JointPositionCommand,
    load_description,
)
from skill_rl.hardware.backends import make_backend  # noqa: E402
from skill_rl.ros.testing import FakeDriver, RosProbe, wait_until  # noqa: E402

PANDA = load_description("panda")
NAMES = list(PANDA.joint_names)


@pytest.fixture
def driver():
    d = FakeDriver(NAMES, PANDA.home)
    yield d
    d.close()


def _cycle_for(arm, seconds: float, target=None) -> None:
    """A real-time control loop at the description's rate: read, write (target stamped now, or None)."""
    period = arm.description.period
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        arm.read()
        arm.write(JointPositionCommand(np.asarray(target), arm.clock(), arm.joint_names) if target is not None else None)
        time.sleep(period)


def test_ros2_arm_reads_the_driver_and_streams_filtered_setpoints(driver):
    arm = make_backend("ros2", safety={"soft_start_s": 0.2, "watchdog_timeout_s": 0.5}, connect_timeout_s=20.0,
                       state_timeout_s=1.0)
    arm.configure()  # waits for the driver's first JointState
    try:
        state = arm.read()
        assert state.names == PANDA.joint_names and np.allclose(state.position, PANDA.home)
        arm.activate()
        target = PANDA.home + np.array([0.15, 0, 0, 0, 0, 0, 0])
        _cycle_for(arm, 1.5, target)
        wait_until(lambda: abs(arm.read().position[0] - target[0]) < 0.01, 20, what="joint 1 at the target")
        msgs = list(driver.received)
        assert msgs and all(list(m.joint_names) == NAMES and len(m.points) == 1 for m in msgs)
        point = msgs[-1].points[0]
        assert point.time_from_start.sec == 0 and point.time_from_start.nanosec == int(round(PANDA.period * 1e9))
        # every step honours the velocity limit (minus the margin) at the nominal period
        pos = np.array([m.points[0].positions[0] for m in msgs])
        assert np.max(np.abs(np.diff(pos))) <= (PANDA.limits.velocity[0] - 0.1) * PANDA.period + 1e-9
        n = len(driver.received)
        arm.estop("test")
        assert arm.state is HalState.FAULT and arm.fault.code is FaultCode.ESTOP
        wait_until(lambda: len(driver.received) > n, 10, what="the hold message")
        hold = driver.received[n].points[0]
        assert np.allclose(hold.velocities, 0.0) and np.allclose(hold.positions, arm.last_state.position, atol=1e-6)
    finally:
        arm.shutdown()
    assert arm.state is HalState.FINALIZED


def test_a_silent_driver_fails_reads_and_latches_read_failure(driver):
    arm = make_backend("ros2", connect_timeout_s=20.0, state_timeout_s=0.3)
    arm.configure()
    try:
        arm.activate()
        driver.publishing = False
        time.sleep(0.6)
        with pytest.raises(HalFaultError, match="READ_FAILURE"):
            arm.read()
        assert arm.fault.code is FaultCode.READ_FAILURE and "old" in arm.fault.message
    finally:
        arm.shutdown()


def test_configure_without_a_driver_fails_and_stays_unconfigured():
    arm = make_backend("ros2", joint_states_topic="/nobody_publishes_this", connect_timeout_s=0.5)
    with pytest.raises(HalError, match="no sensor_msgs/JointState"):
        arm.configure()
    assert arm.state is HalState.UNCONFIGURED
    arm.shutdown()


def test_arm_hal_node_with_the_ros2_backend_relays_commands_to_the_driver(driver, tmp_path, ros_domain):
    """launch/real.yaml's arm_hal (autostart overridden): a command on /arm_hal/joint_command reaches the
    driver's trajectory topic through the safety filter; an e-stop holds."""
    from skill_rl.ros.up import Graph

    graph = Graph(ROOT / "launch" / "real.yaml", domain_id=ros_domain, log_dir=tmp_path,
                  overrides={"arm_hal": {"autostart": True,  # generous timings: this is not a timing test
                                         "backend_args": {"state_timeout_s": 2.0, "connect_timeout_s": 30.0},
                                         "safety": {"watchdog_timeout_s": 1.0}}}).start()
    probe = RosProbe()
    try:
        try:
            probe.wait_arm_state("ACTIVE", 60)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{(tmp_path / 'arm_hal.log').read_text()[-3000:]}") from e
        assert probe.arm_state["backend"] == "ros2"
        assert probe.claim("/test_client").success  # only the arm's owner may command it
        target = PANDA.home + np.array([0.0, 0.1, 0, 0, 0, 0, 0])
        end = time.monotonic() + 30
        while abs(driver.q[1] - target[1]) > 0.01:  # stream the target like a skill would (20 Hz)
            assert time.monotonic() < end, f"the driver never got there: {driver.q}; arm {probe.arm_state}"
            probe.publish_command(target, NAMES)
            time.sleep(0.05)
        assert all(list(m.joint_names) == NAMES for m in driver.received)
        assert probe.call("estop").success
        assert probe.wait_arm_state("FAULT", 10)["fault_code"] == "estop"
        n = len(driver.received)
        probe.publish_command(PANDA.home, NAMES)
        time.sleep(0.5)
        assert all(np.allclose(m.points[0].velocities, 0.0) for m in driver.received[n:])  # nothing but holds
    finally:
        probe.close()
        graph.stop(grace=5.0)


def test_arm_hal_node_retries_a_failed_read_then_faults_and_recovers_after_reset(driver, tmp_path, ros_domain):
    """The driver goes silent: arm_hal's reads fail (stale state), are retried (read_retries = 3), then
    READ_FAILURE latches and holds; goals are refused until the driver is back and the fault is reset."""
    from skill_rl.ros.up import Graph

    graph = Graph(ROOT / "launch" / "real.yaml", domain_id=ros_domain, log_dir=tmp_path,
                  overrides={"arm_hal": {"autostart": True,
                                         "backend_args": {"state_timeout_s": 0.5, "connect_timeout_s": 30.0},
                                         "safety": {"watchdog_timeout_s": 1.0}}}).start()
    probe = RosProbe()
    try:
        try:
            probe.wait_arm_state("ACTIVE", 60)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{(tmp_path / 'arm_hal.log').read_text()[-3000:]}") from e
        driver.publishing = False  # the driver dies (no more joint states)
        state = probe.wait_arm_state("FAULT", 20)
        assert state["fault_code"] == "read_failure"
        assert "read failed 4 times in a row (3 retries)" in state["fault"] and "old" in state["fault"]
        diag = wait_until(lambda: (d := probe.latest_diagnostic_values()).get("hal_state") == "FAULT" and d, 10,
                          what="FAULT in /diagnostics")
        assert diag["_level"] == "2" and diag["fault_code"] == "read_failure"
        n = len(driver.received)
        time.sleep(0.3)
        assert all(np.allclose(m.points[0].velocities, 0.0) for m in driver.received[n:])  # nothing but holds
        assert probe.arm_state["state"] == "FAULT"  # latched: no auto-resume
        driver.publishing = True
        time.sleep(0.2)
        reset = probe.call("reset_fault")
        assert reset.success, reset.message
        assert probe.wait_arm_state("ACTIVE", 10)["fault"] is None
    finally:
        probe.close()
        graph.stop(grace=5.0)
