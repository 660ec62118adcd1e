"""The task executor waits for the arm's first perception before it plans: a task sent right after the graph
starts must not fail as STALE_PERCEPTION only because DDS discovery has not yet matched the arm's publishers (a
CI rehearsal failed ``test_ros_demo_stage`` and ``test_ros_pipeline`` that way). Real DDS, a leased domain, the
node in this process; a second node stands in for arm_hal's perception streams."""

from __future__ import annotations

import threading
import time

import pytest

from tests._extras import require

require("rclpy", extra="ros")


def test_a_task_waits_for_the_first_perception_then_perceives(ros_domain):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState

    from skill_rl.library.perception import PerceptionError
    from skill_rl.ros._common import STREAM
    from skill_rl.ros.env import ensure_interfaces
    from skill_rl.ros.testing import NodeSpinner

    ensure_interfaces()
    from skill_interfaces.msg import ObjectStates

    from skill_rl.ros.task_executor import PARAMS, TaskExecutorNode

    assert PARAMS["perception_wait_s"] >= 5.0  # longer than DDS discovery on a loaded machine
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node = TaskExecutorNode(context=context)
    arm = rclpy.create_node("fake_arm_perception", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    executor.add_node(arm)
    spinner = NodeSpinner(executor, node, context)
    joints_pub = arm.create_publisher(JointState, "/joint_states", STREAM)
    objects_pub = arm.create_publisher(ObjectStates, "/object_states", STREAM)
    stop = threading.Event()

    def publish() -> None:
        time.sleep(1.0)
        while not stop.is_set():
            js = JointState(name=["panda_joint1", "panda_finger_joint1"], position=[0.1, 0.02], velocity=[0.0, 0.0])
            js.header.stamp = arm.get_clock().now().to_msg()
            objects = ObjectStates()
            objects.header.stamp = js.header.stamp
            joints_pub.publish(js)
            objects_pub.publish(objects)
            time.sleep(0.05)

    publisher = threading.Thread(target=publish, daemon=True)
    try:
        t0 = time.monotonic()
        assert node.wait_for_perception(0.3) is False  # nothing published: a bounded wait, then the clear error
        assert time.monotonic() - t0 >= 0.3
        with pytest.raises(PerceptionError, match="no joint states received yet"):
            node.perception()
        t0 = time.monotonic()
        assert node.wait_for_perception(30.0, should_cancel=lambda: True) is False  # a cancelled task stops waiting
        assert time.monotonic() - t0 < 1.0
        publisher.start()
        t0 = time.monotonic()
        assert node.wait_for_perception(30.0) is True  # the streams start 1 s later: the task waits for them
        assert time.monotonic() - t0 >= 0.9
        state = node.perception()
        assert state.joint_positions == (pytest.approx(0.1),) and state.finger_positions == (pytest.approx(0.02),)
    finally:
        stop.set()
        if publisher.is_alive():
            publisher.join(5.0)
        spinner.stop()
        arm.destroy_node()
        spinner.close()
