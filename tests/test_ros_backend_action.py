"""The ros2 HAL backend's action interface (``command_interface="action"``/``"auto"``): setpoints sent as goals of a
FollowJointTrajectory-like action to a fake driver over real DDS (loopback only, private domain).

control_msgs is not on PyPI, so the driver serves the TEST-ONLY ``skill_test_interfaces/action/FollowTrajectory``
(hardware/ros_interfaces/skill_test_interfaces, built by scripts/build_ros_interfaces.sh), whose goal has the
same ``trajectory_msgs/JointTrajectory trajectory`` field and whose result has ``error_code``/``error_string``.
"""

from __future__ import annotations

import ctypes
import importlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from skill_rl.ros.env import interfaces_prefix

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
from skill_rl.ros.testing import FakeDriver, NodeSpinner, wait_until  # noqa: E402

PANDA = load_description("panda")
NAMES = list(PANDA.joint_names)
TEST_ACTION = "skill_test_interfaces.action.FollowTrajectory"
ACTION_NAME = "/joint_trajectory_controller/follow_joint_trajectory"


def _load_test_interfaces():
    """Make ``skill_test_interfaces`` importable (build it if needed), the way skill_rl.ros.env does for
    skill_interfaces: its libraries are dlopen()ed by bare name, so load them by absolute path first."""
    prefix = interfaces_prefix()
    site = prefix / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    if not (site / "skill_test_interfaces").is_dir():
        subprocess.run(["bash", str(ROOT / "scripts" / "build_ros_interfaces.sh")], check=True, timeout=900)
    libs = sorted((prefix / "lib").glob("libskill_test_interfaces__*.so"), key=lambda p: ("generator_c" not in p.name, p.name))
    for path in libs:
        ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    return importlib.import_module("skill_test_interfaces.action").FollowTrajectory


FollowTrajectory = _load_test_interfaces()


class FakeActionDriver:
    """A joint trajectory controller stand-in serving the trajectory action: publishes JointState at 100 Hz,
    and for each accepted goal jumps to its (single) point and keeps the goal running, as JTC does, until a
    newer goal preempts it (ABORTED with error_code 0, like an rclpy server ends a preempted goal) or its
    time_from_start is over (SUCCEEDED). ``mode``: "follow", "reject" (every goal refused) or "abort" (every
    goal aborted with a path tolerance error)."""

    def __init__(self, names, q0, *, mode: str = "follow"):
        import rclpy
        from rclpy.action import ActionServer, GoalResponse
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import JointState

        self.names, self.mode = list(names), mode
        self.q = np.array(q0, dtype=np.float64)
        self.goals: list = []  # every accepted goal, in order
        self.results: list[str] = []  # how each goal ended
        self._lock = threading.Lock()
        self._active = None  # (goal handle, rclpy Future resolved when it ends)
        self._JointState, self._GoalResponse = JointState, GoalResponse
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = rclpy.create_node("fake_jtc", context=self.context)
        self.pub = self.node.create_publisher(JointState, "/joint_states", 10)
        self.node.create_timer(0.01, self._tick)
        self.server = ActionServer(self.node, FollowTrajectory, ACTION_NAME, execute_callback=self._execute,
                                   goal_callback=self._on_goal)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spinner = NodeSpinner(self.executor, self.node, self.context)

    def _on_goal(self, goal):
        return self._GoalResponse.REJECT if self.mode == "reject" else self._GoalResponse.ACCEPT

    async def _execute(self, goal_handle):
        from rclpy.task import Future

        goal = goal_handle.request
        result = FollowTrajectory.Result()
        with self._lock:
            self.goals.append(goal)
        if self.mode == "abort":
            goal_handle.abort()
            result.error_code, result.error_string = -4, f"path tolerance violated by {self.names[0]}"
            self.results.append("aborted")
            return result
        point = goal.trajectory.points[0]
        ends = Future(executor=self.executor)
        with self._lock:
            self.q = np.array(point.positions)
            # done at the point's time plus a settling margin (JTC checks the goal tolerance after it)
            previous, self._active = self._active, (goal_handle, ends, time.monotonic() + 0.05
                                                    + point.time_from_start.sec + point.time_from_start.nanosec * 1e-9)
        if previous is not None and not previous[1].done():
            previous[1].set_result("superseded")
        how = await ends
        if how == "superseded":
            goal_handle.abort()
        else:
            goal_handle.succeed()
        self.results.append(how)
        return result

    def _tick(self) -> None:
        with self._lock:
            active = self._active
            msg = self._JointState()
            msg.header.stamp = self.node.get_clock().now().to_msg()
            msg.name = self.names
            msg.position = [float(x) for x in self.q]
        if active is not None and time.monotonic() > active[2] and not active[1].done():
            active[1].set_result("done")
        self.pub.publish(msg)

    def close(self) -> None:
        self._spinner.stop()
        self.server.destroy()
        self._spinner.close()


@pytest.fixture
def jtc(request):
    d = FakeActionDriver(NAMES, PANDA.home, mode=getattr(request, "param", "follow"))
    yield d
    d.close()


def _action_arm(**kw):
    args = {"command_interface": "action", "action_type": TEST_ACTION, "connect_timeout_s": 20.0,  # generous: the
            "state_timeout_s": 1.0, "goal_response_timeout_s": 5.0,  # machine is shared, this is no timing test
            "safety": {"soft_start_s": 0.2, "watchdog_timeout_s": 0.5}}
    return make_backend("ros2", **{**args, **kw})


def _cycle_for(arm, seconds: float, target) -> None:
    """A real-time control loop at the description's rate: read, write the target (stamped now)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        arm.read()
        arm.write(JointPositionCommand(np.asarray(target), arm.clock(), arm.joint_names))
        time.sleep(arm.description.period)


def test_setpoints_arrive_as_goals_and_the_arm_follows(jtc):
    arm = _action_arm(goal_time_tolerance_s=0.5)
    arm.configure()
    try:
        assert arm.command_interface_used == "action"
        arm.activate()
        target = PANDA.home + np.array([0.15, 0, 0, 0, 0, 0, 0])
        _cycle_for(arm, 1.5, target)
        wait_until(lambda: abs(arm.read().position[0] - target[0]) < 0.01, 20, what="joint 1 at the target")
        assert arm.state is HalState.ACTIVE, arm.fault  # every goal but the last was preempted: no fault
        goals = list(jtc.goals)
        assert len(goals) > 10
        wait_until(lambda: arm.goals["accepted"] >= len(goals), 10, what="the answers to every goal")
        wait_until(lambda: arm.goals["superseded"] > 0, 10, what="a preempted goal's result")
        assert "superseded" in jtc.results
        for goal in goals:
            assert list(goal.trajectory.joint_names) == NAMES and len(goal.trajectory.points) == 1
            assert (goal.goal_time_tolerance.sec, goal.goal_time_tolerance.nanosec) == (0, 500_000_000)
        point = goals[-1].trajectory.points[0]
        assert point.time_from_start.sec == 0 and point.time_from_start.nanosec == int(round(PANDA.period * 1e9))
        pos = np.array([g.trajectory.points[0].positions[0] for g in goals])  # the safety filter ran first
        assert np.max(np.abs(np.diff(pos))) <= (PANDA.limits.velocity[0] - 0.1) * PANDA.period + 1e-9
        assert abs(pos[-1] - target[0]) < 0.01
        n = len(jtc.goals)
        arm.estop("test")  # the hold is a goal too: the measured position at zero velocity
        wait_until(lambda: len(jtc.goals) > n, 10, what="the hold goal")
        hold = jtc.goals[n].trajectory.points[0]
        assert np.allclose(hold.velocities, 0.0) and np.allclose(hold.positions, arm.last_state.position, atol=1e-6)
    finally:
        arm.shutdown()
    assert arm.state is HalState.FINALIZED


@pytest.mark.parametrize("jtc", ["reject"], indirect=True)
def test_a_rejected_goal_faults_the_hal_with_a_clear_message(jtc):
    arm = _action_arm()
    arm.configure()
    try:
        arm.activate()
        target = PANDA.home + np.array([0.1, 0, 0, 0, 0, 0, 0])
        with pytest.raises(HalFaultError, match="WRITE_FAILURE"):
            _cycle_for(arm, 10.0, target)
        assert arm.fault.code is FaultCode.WRITE_FAILURE
        assert "rejected the trajectory goal" in arm.fault.message and ACTION_NAME in arm.fault.message
        assert jtc.goals == [] and np.allclose(jtc.q, PANDA.home)  # nothing moved
        jtc.mode = "follow"  # the controller is fixed: reset clears the refusal, goals flow again
        arm.reset()
        arm.activate()
        _cycle_for(arm, 0.5, target)
        wait_until(lambda: arm.goals["accepted"] > 0, 10, what="an accepted goal after the reset")
        assert arm.state is HalState.ACTIVE and jtc.goals
    finally:
        arm.shutdown()


@pytest.mark.parametrize("jtc", ["abort"], indirect=True)
def test_an_aborted_goal_faults_with_the_drivers_error_and_auto_picks_the_action(jtc):
    arm = _action_arm(command_interface="auto")  # the action type imports: auto means action
    arm.configure()
    try:
        assert arm.command_interface_used == "action"
        arm.activate()
        with pytest.raises(HalFaultError, match="WRITE_FAILURE"):
            _cycle_for(arm, 10.0, PANDA.home + np.array([0.1, 0, 0, 0, 0, 0, 0]))
        assert "aborted the trajectory goal" in arm.fault.message
        assert f"error_code -4: path tolerance violated by {NAMES[0]}" in arm.fault.message
    finally:
        arm.shutdown()


def test_goal_period_throttles_goals_and_times_them_ahead(jtc):
    arm = _action_arm(goal_period_s=0.05)
    arm.configure()
    try:
        arm.activate()
        target = PANDA.home + np.array([0, 0, 0.1, 0, 0, 0, 0])
        _cycle_for(arm, 1.5, target)
        wait_until(lambda: abs(arm.read().position[2] - target[2]) < 0.01, 20, what="joint 3 at the target")
        assert arm.state is HalState.ACTIVE, arm.fault
        assert 0 < arm.goals["sent"] < arm.stats["writes"]  # not one goal per setpoint
        assert all(g.trajectory.points[0].time_from_start.nanosec == 50_000_000 for g in jtc.goals)
    finally:
        arm.shutdown()


@pytest.mark.skipif(importlib.util.find_spec("control_msgs") is not None, reason="control_msgs is installed here")
def test_auto_falls_back_to_the_topic_without_control_msgs():
    driver = FakeDriver(NAMES, PANDA.home)  # topic-only driver
    arm = make_backend("ros2", command_interface="auto", connect_timeout_s=20.0, state_timeout_s=1.0,
                       safety={"soft_start_s": 0.2, "watchdog_timeout_s": 0.5})
    try:
        arm.configure()
        assert arm.command_interface_used == "topic"
        arm.activate()
        _cycle_for(arm, 0.3, PANDA.home)
        wait_until(lambda: driver.received, 10, what="a JointTrajectory on the topic")
        assert arm.goals["sent"] == 0
    finally:
        arm.shutdown()
        driver.close()


def test_action_mode_without_control_msgs_names_what_to_install():
    if importlib.util.find_spec("control_msgs") is not None:
        pytest.skip("control_msgs is installed here")
    arm = make_backend("ros2", command_interface="action", connect_timeout_s=0.5)
    with pytest.raises(HalError, match="ros-<distro>-control-msgs") as info:
        arm.configure()
    assert "not on PyPI" in str(info.value) and "control_msgs.action" in str(info.value)
    assert arm.state is HalState.UNCONFIGURED
    arm.shutdown()


def test_bad_action_type_paths_give_clear_errors():
    with pytest.raises(ValueError, match="dotted path 'package.action.Name'"):
        make_backend("ros2", command_interface="action", action_type="FollowTrajectory")
    with pytest.raises(ValueError, match="command_interface must be one of"):
        make_backend("ros2", command_interface="service")
    cases = {
        "skill_test_interfaces.action.NoSuchAction": r"has no action 'NoSuchAction'.*FollowTrajectory",
        "skill_interfaces_nope.action.Follow": r"apt install ros-<distro>-skill-interfaces-nope",
        "skill_test_interfaces.msg.Foo": r"cannot import 'skill_test_interfaces.msg'",
        "sensor_msgs.msg.JointState": r"is not a ROS 2 action type",
        "skill_interfaces.action.ExecuteSkill": r"no 'trajectory_msgs/JointTrajectory trajectory' field",
    }
    from skill_rl.ros.env import ensure_interfaces

    ensure_interfaces()
    for path, message in cases.items():
        arm = make_backend("ros2", command_interface="action", action_type=path, connect_timeout_s=0.5)
        with pytest.raises(HalError, match=message):
            arm.configure()
        assert arm.state is HalState.UNCONFIGURED
        arm.shutdown()


def test_no_action_server_fails_configure():
    driver = FakeDriver(NAMES, PANDA.home)  # joint states, but no trajectory action
    arm = _action_arm(connect_timeout_s=3.0)
    try:
        with pytest.raises(HalError, match=f"no {TEST_ACTION} action server on {ACTION_NAME}"):
            arm.configure()
        assert arm.state is HalState.UNCONFIGURED
    finally:
        arm.shutdown()
        driver.close()


def test_arm_hal_node_with_the_action_interface_relays_commands_as_goals(jtc, tmp_path, ros_domain):
    """launch/real.yaml's arm_hal with backend_args.command_interface = action (a YAML override, as a deployment
    would set it): a command on /arm_hal/joint_command reaches the fake controller as goals; an e-stop holds."""
    from skill_rl.ros.testing import RosProbe
    from skill_rl.ros.up import Graph

    graph = Graph(ROOT / "launch" / "real.yaml", domain_id=ros_domain, log_dir=tmp_path,
                  overrides={"arm_hal": {"autostart": True,  # generous timings: this is not a timing test
                                         "backend_args": {"command_interface": "action", "action_type": TEST_ACTION,
                                                          "state_timeout_s": 2.0, "connect_timeout_s": 30.0,
                                                          "goal_response_timeout_s": 5.0},
                                         "safety": {"watchdog_timeout_s": 1.0}}}).start()
    probe = RosProbe()
    try:
        try:
            probe.wait_arm_state("ACTIVE", 60)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{(tmp_path / 'arm_hal.log').read_text()[-3000:]}") from e
        assert probe.claim("/test_client").success  # only the arm's owner may command it
        target = PANDA.home + np.array([0.0, 0.1, 0, 0, 0, 0, 0])
        end = time.monotonic() + 30
        while abs(jtc.q[1] - target[1]) > 0.01:  # stream the target like a skill would (20 Hz)
            assert time.monotonic() < end, f"the controller never got there: {jtc.q}; arm {probe.arm_state}"
            probe.publish_command(target, NAMES)
            time.sleep(0.05)
        assert probe.arm_state["state"] == "ACTIVE" and "superseded" in jtc.results
        assert all(list(g.trajectory.joint_names) == NAMES for g in jtc.goals)
        assert probe.call("estop").success
        assert probe.wait_arm_state("FAULT", 10)["fault_code"] == "estop"
        n = len(jtc.goals)
        probe.publish_command(PANDA.home, NAMES)
        time.sleep(0.5)
        assert all(np.allclose(g.trajectory.points[0].velocities, 0.0) for g in jtc.goals[n:])  # nothing but holds
    finally:
        probe.close()
        graph.stop(grace=5.0)
