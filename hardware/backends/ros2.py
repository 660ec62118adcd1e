"""Ros2Arm: an arm driven by a ROS 2 driver (ros2_control's joint_trajectory_controller, or any driver
with the same topics), as an ``ArmHAL`` backend. rclpy is imported when the arm is configured, never at
import (registering and listing the backend needs no ROS).

Data path (topic semantics of JTC, the survey's "FollowJointTrajectory plus JointState" contract):

- state: subscribes ``joint_states_topic`` (``sensor_msgs/JointState``, default ``/joint_states``), matched
  by joint name (extra joints, e.g. fingers, are ignored; a missing velocity/effort reads as 0). A reading
  older than ``state_timeout_s`` (receipt time, this process's monotonic clock) fails the read, so the HAL
  retries and then latches FAULT (READ_FAILURE): a dead driver stops the arm's users.
- commands: publishes each filtered setpoint as a one-point ``trajectory_msgs/JointTrajectory`` on
  ``command_topic`` (default ``/joint_trajectory_controller/joint_trajectory``) with positions (rad),
  velocities (rad/s) and ``time_from_start`` = one control period (``time_from_start_s``); the header stamp
  is zero ("start now"). Hold (fault, e-stop, deactivate) sends the measured position at zero velocity.
- the safety filter runs here, in front of the driver; the driver's own limits and controller stay active.

The backend runs its own rclpy context, node (``node_name``) and executor thread, so it works in any
program, ROS node or not (``arm_hal`` with ``backend: ros2``, or a script). ``ROS_DOMAIN_ID`` comes from the
environment; so does ``ROS_AUTOMATIC_DISCOVERY_RANGE``, which is set to ``LOCALHOST`` when unset (DDS's
default multicasts on every interface): for a driver on another machine set it to ``SUBNET``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..description import RobotDescription
from ..hal import ArmHAL
from ..safety import SafetyConfig
from ..types import HalCommError, HalError

__all__ = ["Ros2Arm"]


class Ros2Arm(ArmHAL):
    """An arm behind a ROS 2 joint trajectory controller (see the module docstring).

    joint_states_topic / command_topic: the driver's topics. connect_timeout_s: configure() waits this
    long for a JointState naming every joint (else it fails, still UNCONFIGURED). state_timeout_s: max
    age of the newest JointState for a read to succeed. time_from_start_s: time_from_start of each
    point (default: one control period). joint_names: the driver's names for the description's joints, in
    order (default: the description's names).
    """

    backend_name = "ros2"

    def __init__(self, description: RobotDescription | str | None = None, *,
                 safety: Mapping[str, Any] | SafetyConfig | None = None, clock: Callable[[], float] = time.monotonic,
                 joint_states_topic: str = "/joint_states",
                 command_topic: str = "/joint_trajectory_controller/joint_trajectory",
                 connect_timeout_s: float = 5.0, state_timeout_s: float = 0.2, time_from_start_s: float | None = None,
                 joint_names: list[str] | tuple[str, ...] | None = None, node_name: str = "skill_rl_ros2_arm"):
        super().__init__(description, safety=safety, clock=clock)
        self.joint_states_topic = str(joint_states_topic)
        self.command_topic = str(command_topic)
        self.connect_timeout_s = float(connect_timeout_s)
        self.state_timeout_s = float(state_timeout_s)
        self.time_from_start_s = float(time_from_start_s) if time_from_start_s else self.description.period
        names = tuple(joint_names) if joint_names else self.description.joint_names
        if len(names) != self.n_joints:
            raise ValueError(f"joint_names must name the {self.n_joints} joints of {self.description.name!r}, got {names!r}")
        self.driver_joint_names = names
        self.node_name = str(node_name)
        self._msg_lock = threading.Lock()
        self._latest: tuple[float, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._context = self._node = self._executor = self._thread = self._pub = None
        self._msgs: Any = None
        self.received = 0  # JointState messages with every joint

    # ------------------------------------------------------------ connection
    def _on_configure(self) -> None:
        import os

        os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import JointState
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

        self._msgs = (JointTrajectory, JointTrajectoryPoint)
        self._latest = None
        context = rclpy.Context()
        rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        try:
            node = rclpy.create_node(self.node_name, context=context)
            # BEST_EFFORT matches both reliable and best-effort state publishers.
            node.create_subscription(JointState, self.joint_states_topic, self._on_state,
                                     QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                                                reliability=ReliabilityPolicy.BEST_EFFORT))
            self._pub = node.create_publisher(JointTrajectory, self.command_topic,
                                              QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                                                         reliability=ReliabilityPolicy.RELIABLE))
            executor = SingleThreadedExecutor(context=context)
            executor.add_node(node)
        except Exception:
            rclpy.try_shutdown(context=context)
            raise
        self._context, self._node, self._executor = context, node, executor
        self._thread = threading.Thread(target=self._spin, name=f"{self.node_name}-spin", daemon=True)
        self._thread.start()
        end = time.monotonic() + self.connect_timeout_s
        while self._latest is None:
            if time.monotonic() > end:
                self._disconnect()
                raise HalCommError(
                    f"no sensor_msgs/JointState with joints {list(self.driver_joint_names)} on "
                    f"{self.joint_states_topic} within {self.connect_timeout_s:g} s (is the driver running, same "
                    f"ROS_DOMAIN_ID / discovery range?)")
            time.sleep(0.01)

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            self._executor.spin()
        except (ExternalShutdownException, Exception):  # noqa: BLE001 - the context was shut down
            pass

    def _disconnect(self) -> None:
        import rclpy

        if self._context is None:
            return
        try:
            if self._executor is not None:
                self._executor.shutdown(timeout_sec=1.0)
            if self._node is not None:
                self._node.destroy_node()
        finally:
            rclpy.try_shutdown(context=self._context)
            if self._thread is not None:
                self._thread.join(2.0)
            self._context = self._node = self._executor = self._thread = self._pub = None

    def _on_cleanup(self) -> None:
        self._disconnect()

    def _on_shutdown(self) -> None:
        self._disconnect()

    def _on_state(self, msg) -> None:
        index = {name: i for i, name in enumerate(msg.name)}
        try:
            idx = [index[n] for n in self.driver_joint_names]
        except KeyError:
            return  # another publisher's JointState (e.g. only the gripper): not ours
        pos = np.array([msg.position[i] for i in idx], dtype=np.float64)
        vel = np.array([msg.velocity[i] for i in idx], dtype=np.float64) if len(msg.velocity) == len(msg.name) else np.zeros(len(idx))
        eff = np.array([msg.effort[i] for i in idx], dtype=np.float64) if len(msg.effort) == len(msg.name) else np.zeros(len(idx))
        with self._msg_lock:
            self._latest = (self.clock(), pos, vel, eff)
            self.received += 1

    # ------------------------------------------------------------ I/O
    def _read_hw(self):
        with self._msg_lock:
            latest = self._latest
        if latest is None:
            raise HalCommError(f"no JointState received on {self.joint_states_topic}")
        age = self.clock() - latest[0]
        if age > self.state_timeout_s:
            raise HalCommError(f"JointState on {self.joint_states_topic} is {age:.3f} s old (max {self.state_timeout_s:g} s): "
                               f"the driver stopped publishing")
        return latest[1].copy(), latest[2].copy(), latest[3].copy()

    def _publish(self, positions: np.ndarray, velocities: np.ndarray) -> None:
        if self._pub is None:
            raise HalError("not connected")
        JointTrajectory, JointTrajectoryPoint = self._msgs
        msg = JointTrajectory()  # header.stamp zero: start now (JTC)
        msg.joint_names = list(self.driver_joint_names)
        sec = int(self.time_from_start_s)
        point = JointTrajectoryPoint(positions=[float(x) for x in positions], velocities=[float(x) for x in velocities])
        point.time_from_start.sec = sec
        point.time_from_start.nanosec = int(round((self.time_from_start_s - sec) * 1e9))
        msg.points = [point]
        self._pub.publish(msg)

    def _write_hw(self, positions: np.ndarray, velocities: np.ndarray) -> None:
        self._publish(positions, velocities)

    def _hold_hw(self) -> None:
        with self._msg_lock:
            latest = self._latest
        if latest is not None and self._pub is not None:
            self._publish(latest[1], np.zeros(self.n_joints))
