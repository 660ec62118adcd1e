"""Ros2Arm: an arm driven by a ROS 2 driver (ros2_control's joint_trajectory_controller, or any driver
with the same topics), as an ``ArmHAL`` backend. rclpy is imported when the arm is configured, never at
import (registering and listing the backend needs no ROS).

Data path (JTC's interfaces, the survey's "FollowJointTrajectory plus JointState" contract):

- state: subscribes ``joint_states_topic`` (``sensor_msgs/JointState``, default ``/joint_states``), matched
  by joint name (extra joints, e.g. fingers, are ignored; a missing velocity/effort reads as 0). A reading
  older than ``state_timeout_s`` (receipt time, this process's monotonic clock) fails the read, so the HAL
  retries and then latches FAULT (READ_FAILURE): a dead driver stops the arm's users.
- commands (``command_interface``): each filtered setpoint becomes a one-point ``trajectory_msgs/JointTrajectory``
  with positions (rad), velocities (rad/s) and ``time_from_start`` = one control period (``time_from_start_s``);
  the header stamp is zero ("start now"). Hold (fault, e-stop, deactivate) sends the measured position at zero
  velocity. It reaches the driver one of two ways (``auto`` picks one):

  - ``"topic"`` (default): published on ``command_topic`` (default ``/joint_trajectory_controller/joint_trajectory``).
    Fire and forget: nothing tells the HAL that the controller refused a trajectory.
  - ``"action"``: sent as the ``trajectory`` of a goal of the action ``action_type`` (default
    ``control_msgs.action.FollowJointTrajectory``, imported lazily from that dotted path) on ``action_name``
    (default ``/joint_trajectory_controller/follow_joint_trajectory``), one goal per setpoint (at most one per
    ``goal_period_s`` when set). Each goal supersedes the previous one, as JTC does: a superseded goal that ends
    CANCELED, or ABORTED without an error code, is expected. A rejected goal, an abort with an error code (path or
    goal tolerance violated, invalid joints...), a cancel nobody asked for, no answer within
    ``goal_response_timeout_s`` or a vanished server fail the next write with ``HalCommError``, so the HAL latches
    FAULT (WRITE_FAILURE) with the driver's message and holds; ``reset()`` forgets it. Only fields the goal type has are filled
    (``trajectory``; ``goal_time_tolerance`` when set and present). control_msgs is not on PyPI: it comes with
    a full ROS 2 install (``ros-<distro>-control-msgs``).
  - ``"auto"``: ``"action"`` when ``action_type``'s package is importable (a sourced ROS install with
    control_msgs), else ``"topic"``; ``command_interface_used`` says which one configure() picked.
- the safety filter runs here, in front of the driver; the driver's own limits and controller stay active.

The backend runs its own rclpy context, node (``node_name``) and executor thread, so it works in any
program, ROS node or not (``arm_hal`` with ``backend: ros2``, or a script). ``ROS_DOMAIN_ID`` comes from the
environment; so does ``ROS_AUTOMATIC_DISCOVERY_RANGE``, which is set to ``LOCALHOST`` when unset (DDS's
default multicasts on every interface): for a driver on another machine set it to ``SUBNET``.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..description import RobotDescription
from ..hal import ArmHAL
from ..safety import SafetyConfig
from ..types import HalCommError, HalError

__all__ = ["COMMAND_INTERFACES", "DEFAULT_ACTION_NAME", "DEFAULT_ACTION_TYPE", "Ros2Arm", "load_action_type"]

#: How setpoints reach the driver (see the module docstring).
COMMAND_INTERFACES = ("topic", "action", "auto")
DEFAULT_ACTION_TYPE = "control_msgs.action.FollowJointTrajectory"
DEFAULT_ACTION_NAME = "/joint_trajectory_controller/follow_joint_trajectory"


def _split_action_type(path: str) -> tuple[str, str]:
    module, _, name = str(path).rpartition(".")
    if not module or not name or not all(part.isidentifier() for part in str(path).split(".")):
        raise ValueError(f"action_type must be a dotted path 'package.action.Name' (e.g. {DEFAULT_ACTION_TYPE!r}), "
                         f"got {path!r}")
    return module, name


def load_action_type(path: str) -> type:
    """Import a ROS 2 action type from a dotted path such as ``control_msgs.action.FollowJointTrajectory``.

    Checked here, not at the first goal, so that a wrong path fails configure() with a message that says what
    to fix: a missing package (with what to install), a missing name, or a type whose goal has no
    ``trajectory_msgs/JointTrajectory trajectory`` field. Raises ImportError (missing) or TypeError (wrong type).
    """
    module_name, name = _split_action_type(path)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        package = module_name.split(".")[0]
        hint = (f"install the ROS 2 package that provides it (on a full ROS 2 install: "
                f"`apt install ros-<distro>-{package.replace('_', '-')}`, e.g. ros-kilted-{package.replace('_', '-')}, "
                f"then `source /opt/ros/<distro>/setup.bash`)")
        if package == "control_msgs":
            hint += "; control_msgs is not on PyPI, so without a ROS install use command_interface: topic (or auto)"
        raise ImportError(f"cannot import {module_name!r} for action_type {path!r} ({e}): {hint}") from e
    cls = getattr(module, name, None)
    if cls is None:
        found = sorted(n for n in dir(module) if not n.startswith("_") and hasattr(getattr(module, n), "Goal"))
        raise ImportError(f"{module_name!r} has no action {name!r} (action_type {path!r}); it has: {found}")
    goal = getattr(cls, "Goal", None)
    if goal is None or not hasattr(cls, "Result") or not hasattr(goal, "get_fields_and_field_types"):
        raise TypeError(f"action_type {path!r} is not a ROS 2 action type (no Goal/Result messages)")
    fields = goal.get_fields_and_field_types()
    if fields.get("trajectory") != "trajectory_msgs/JointTrajectory":
        raise TypeError(f"action_type {path!r}: its goal has no 'trajectory_msgs/JointTrajectory trajectory' field "
                        f"(fields: {fields}); it must be control_msgs/FollowJointTrajectory or a type like it")
    return cls


class Ros2Arm(ArmHAL):
    """An arm behind a ROS 2 joint trajectory controller (see the module docstring).

    joint_states_topic / command_topic: the driver's topics. connect_timeout_s: configure() waits this
    long for a JointState naming every joint (else it fails, still UNCONFIGURED). state_timeout_s: max
    age of the newest JointState for a read to succeed. time_from_start_s: time_from_start of each
    point (default: one control period). joint_names: the driver's names for the description's joints, in
    order (default: the description's names). command_interface: "topic", "action" or "auto"; action_name /
    action_type: the trajectory action and its dotted type path; goal_period_s: at most one goal per this many
    seconds (default: every setpoint; each point is then timed goal_period_s ahead); goal_time_tolerance_s: the
    goal's goal_time_tolerance, if its type has one; goal_response_timeout_s: a goal unanswered this long fails
    the next write.
    """

    backend_name = "ros2"

    def __init__(self, description: RobotDescription | str | None = None, *,
                 safety: Mapping[str, Any] | SafetyConfig | None = None, clock: Callable[[], float] = time.monotonic,
                 joint_states_topic: str = "/joint_states",
                 command_topic: str = "/joint_trajectory_controller/joint_trajectory",
                 connect_timeout_s: float = 5.0, state_timeout_s: float = 0.2, time_from_start_s: float | None = None,
                 joint_names: list[str] | tuple[str, ...] | None = None, node_name: str = "skill_rl_ros2_arm",
                 command_interface: str = "topic", action_name: str = DEFAULT_ACTION_NAME,
                 action_type: str = DEFAULT_ACTION_TYPE, goal_period_s: float | None = None,
                 goal_time_tolerance_s: float | None = None, goal_response_timeout_s: float = 1.0):
        super().__init__(description, safety=safety, clock=clock)
        if command_interface not in COMMAND_INTERFACES:
            raise ValueError(f"command_interface must be one of {list(COMMAND_INTERFACES)}, got {command_interface!r}")
        _split_action_type(action_type)  # a malformed path fails here; a missing package at configure()
        self.command_interface = str(command_interface)
        self.command_interface_used: str | None = None  # "topic" or "action", once configured
        self.action_name = str(action_name)
        self.action_type = str(action_type)
        self.goal_period_s = float(goal_period_s) if goal_period_s else None
        self.goal_time_tolerance_s = None if goal_time_tolerance_s is None else float(goal_time_tolerance_s)
        self.goal_response_timeout_s = float(goal_response_timeout_s)
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
        self._context: Any = None
        self._node: Any = None
        self._executor: Any = None
        self._thread: Any = None
        self._pub: Any = None
        self._msgs: Any = None
        self.received = 0  # JointState messages with every joint
        # action interface: the client, its type, and the goals in flight (guarded by _goal_lock)
        self._action_client: Any = None
        self._action_cls: Any = None
        self._goal_lock = threading.Lock()
        self._goal_seq = 0  # sequence number of the newest goal sent
        self._reset_seq = 0  # goals up to this one were sent before the last reset(): their failures are old news
        self._pending: dict[int, float] = {}  # goals sent, not yet answered: seq -> send time (monotonic)
        self._action_error: str | None = None  # the first failure reported by the action's callbacks
        self._last_goal_time = -float("inf")
        self.goals = {"sent": 0, "accepted": 0, "succeeded": 0, "superseded": 0}

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
        use_action = self.command_interface == "action"
        if self.command_interface == "auto":
            try:
                importlib.import_module(_split_action_type(self.action_type)[0])
                use_action = True
            except ModuleNotFoundError:
                use_action = False  # no control_msgs (no ROS install): the controller's topic
        self._action_cls = load_action_type(self.action_type) if use_action else None
        self._action_error, self._pending, self._goal_seq, self._reset_seq = None, {}, 0, 0
        self._last_goal_time = -float("inf")
        context = rclpy.Context()
        rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        try:
            node = rclpy.create_node(self.node_name, context=context)
            # BEST_EFFORT matches both reliable and best-effort state publishers.
            node.create_subscription(JointState, self.joint_states_topic, self._on_state,
                                     QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                                                reliability=ReliabilityPolicy.BEST_EFFORT))
            if use_action:
                from rclpy.action import ActionClient

                self._action_client = ActionClient(node, self._action_cls, self.action_name)
            else:
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
        if use_action and not self._action_client.wait_for_server(timeout_sec=max(0.1, end - time.monotonic())):
            self._disconnect()
            raise HalCommError(f"no {self.action_type} action server on {self.action_name} within "
                               f"{self.connect_timeout_s:g} s (is the joint trajectory controller active?)")
        self.command_interface_used = "action" if use_action else "topic"

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
            if self._action_client is not None:
                self._action_client.destroy()
            if self._node is not None:
                self._node.destroy_node()
        finally:
            rclpy.try_shutdown(context=self._context)
            if self._thread is not None:
                self._thread.join(2.0)
            self._context = self._node = self._executor = self._thread = self._pub = self._action_client = None

    def _on_cleanup(self) -> None:
        self._disconnect()

    def _on_reset(self) -> None:
        # the operator cleared the fault: forget the driver's refusal that caused it, and goals in flight
        with self._goal_lock:
            self._action_error = None
            self._pending.clear()
            self._reset_seq = self._goal_seq  # answers to goals sent before now are stale

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

    def _trajectory(self, positions: np.ndarray, velocities: np.ndarray, ahead_s: float):
        JointTrajectory, JointTrajectoryPoint = self._msgs
        msg = JointTrajectory()  # header.stamp zero: start now (JTC)
        msg.joint_names = list(self.driver_joint_names)
        sec = int(ahead_s)
        point = JointTrajectoryPoint(positions=[float(x) for x in positions], velocities=[float(x) for x in velocities])
        point.time_from_start.sec = sec
        point.time_from_start.nanosec = int(round((ahead_s - sec) * 1e9))
        msg.points = [point]
        return msg

    def _publish(self, positions: np.ndarray, velocities: np.ndarray, *, hold: bool = False) -> None:
        if self._action_client is not None:
            self._send_goal(positions, velocities, hold=hold)
            return
        if self._pub is None:
            raise HalError("not connected")
        self._pub.publish(self._trajectory(positions, velocities, self.time_from_start_s))

    # ------------------------------------------------------------ action interface
    def _check_action(self) -> None:
        """Raise HalCommError for what the action's callbacks reported since the last write."""
        now = time.monotonic()
        with self._goal_lock:
            error = self._action_error
            oldest = min(self._pending.values(), default=now)
        if error is not None:
            raise HalCommError(error)
        if now - oldest > self.goal_response_timeout_s:
            raise HalCommError(f"the {self.action_type} server on {self.action_name} has not answered a goal for "
                               f"{now - oldest:.2f} s (max {self.goal_response_timeout_s:g} s)")
        if not self._action_client.server_is_ready():
            raise HalCommError(f"the {self.action_type} server on {self.action_name} went away")

    def _send_goal(self, positions: np.ndarray, velocities: np.ndarray, *, hold: bool = False) -> None:
        if not hold:
            self._check_action()
            if self.goal_period_s is not None and time.monotonic() - self._last_goal_time < self.goal_period_s:
                return  # throttled: the driver is still interpolating towards the previous goal
        goal = self._action_cls.Goal()
        goal.trajectory = self._trajectory(positions, velocities, self.goal_period_s or self.time_from_start_s)
        if self.goal_time_tolerance_s is not None and hasattr(goal, "goal_time_tolerance"):
            sec = int(self.goal_time_tolerance_s)
            goal.goal_time_tolerance.sec = sec
            goal.goal_time_tolerance.nanosec = int(round((self.goal_time_tolerance_s - sec) * 1e9))
        with self._goal_lock:
            self._goal_seq += 1
            seq = self._goal_seq
            self._last_goal_time = self._pending[seq] = time.monotonic()
            self.goals["sent"] += 1
        future = self._action_client.send_goal_async(goal)
        future.add_done_callback(lambda f, seq=seq: self._on_goal_response(seq, f))

    def _fail(self, seq: int, message: str) -> None:
        with self._goal_lock:
            # keep the first: later ones are usually its consequences
            if self._action_error is None and seq > self._reset_seq:
                self._action_error = message

    def _on_goal_response(self, seq: int, future) -> None:
        with self._goal_lock:
            self._pending.pop(seq, None)
        try:
            handle = future.result()
        except Exception as e:  # noqa: BLE001 - reported to the HAL at the next write
            self._fail(seq, f"sending a goal to {self.action_name} failed: {type(e).__name__}: {e}")
            return
        if handle is None or not handle.accepted:
            self._fail(seq, f"the driver rejected the trajectory goal on {self.action_name} ({self.action_type}): "
                       f"is the controller active and are the joints {list(self.driver_joint_names)} its joints?")
            return
        with self._goal_lock:
            self.goals["accepted"] += 1
        handle.get_result_async().add_done_callback(lambda f, seq=seq: self._on_result(seq, f))

    def _on_result(self, seq: int, future) -> None:
        from action_msgs.msg import GoalStatus

        try:
            response = future.result()
        except Exception as e:  # noqa: BLE001 - e.g. the context was shut down
            self._fail(seq, f"no result for a trajectory goal on {self.action_name}: {type(e).__name__}: {e}")
            return
        status, result = response.status, response.result
        code, text = int(getattr(result, "error_code", 0)), str(getattr(result, "error_string", ""))
        with self._goal_lock:
            superseded = seq < self._goal_seq
            if status == GoalStatus.STATUS_SUCCEEDED:
                self.goals["succeeded"] += 1
                return
            # JTC ends the goal it preempts (CANCELED, or ABORTED without an error): expected, not a fault
            if superseded and (status == GoalStatus.STATUS_CANCELED or (status == GoalStatus.STATUS_ABORTED
                                                                         and code == 0 and not text)):
                self.goals["superseded"] += 1
                return
        names = {GoalStatus.STATUS_ABORTED: "aborted", GoalStatus.STATUS_CANCELED: "canceled"}
        self._fail(seq, f"the driver {names.get(status, f'ended (status {status})')} the trajectory goal on "
                   f"{self.action_name}: error_code {code}" + (f": {text}" if text else ""))

    # ------------------------------------------------------------ HAL hooks
    def _write_hw(self, positions: np.ndarray, velocities: np.ndarray) -> None:
        self._publish(positions, velocities)

    def _hold_hw(self) -> None:
        with self._msg_lock:
            latest = self._latest
        if latest is not None and (self._pub is not None or self._action_client is not None):
            self._publish(latest[1], np.zeros(self.n_joints), hold=True)
