"""``arm_hal``: a ROS 2 lifecycle node that owns one arm (an ``ArmHAL`` backend behind its SafetyFilter).

Run: ``python -m skill_rl.ros.arm_hal --ros-args --params-file launch/sim.yaml``.

Lifecycle (``~/change_state``, or ``autostart: true`` to configure and activate at start): configure ->
``hal.configure()`` (connect, start the loop), activate -> ``hal.activate()`` (seed the setpoint from the
measured state, soft start), deactivate -> ``hal.deactivate()``, cleanup -> ``hal.cleanup()``, shutdown ->
``hal.shutdown()``. A latched HAL FAULT does not change the lifecycle state; ``~/reset_fault`` clears it
and, when the node is active, re-activates the HAL (re-seeded, no jump).

Loop (a timer at ``rate_hz``, default the robot description's nominal rate, 100 Hz for the Panda):
``hal.read()`` -> publish ``/joint_states`` -> ``hal.write(newest command or None)`` (at once, or with
``write_on_command`` when the cycle's fresh command arrives) -> publish the rest. The SafetyFilter inside ``write``
does the rest: limits, rate limits, watchdog (no fresh command for ``safety.watchdog_timeout_s``:
decelerate to a stop and hold), NaN -> FAULT, and so on (``skill_rl.hardware.safety``).

Interfaces (names relative to the node: ``~/x`` is ``/arm_hal/x``):

- sub ``~/joint_command`` (param ``command_topic``), ``trajectory_msgs/JointTrajectory``: exactly one point
  whose ``positions`` are the joint position target, rad, for ``joint_names`` (empty, or the robot's
  joint names in order). Stamped on receipt with the HAL's monotonic clock (sender clocks are never
  trusted); ``header.stamp`` and ``time_from_start`` are ignored. A trajectory with **no points** means
  stop: decelerate within the acceleration limits and hold (JTC's empty-trajectory convention; on the same
  topic, so it is ordered after the commands before it). A malformed trajectory (several points, other
  joint names or order, a position count or velocity count that is not the joint count) is **rejected**
  with the reason logged and in diagnostics (``commands_rejected``, ``last_rejection``); no fault, the
  arm keeps its last command. Non-finite values: rejected, FAULT latched (by the filter).
- sub ``~/gripper_command``, ``std_msgs/Float64MultiArray``: ``[width_m]`` or ``[width_m, speed_m_s,
  force_n]``; applied while ACTIVE (the gripper is not behind the joint filter; values are clamped to the
  gripper's ranges).
- pub ``/joint_states`` (param ``joint_states_topic``), ``sensor_msgs/JointState``: the arm's joints (rad,
  rad/s, N*m) plus, with a gripper, ``<robot>_finger_joint1/2`` (each finger's opening, m); header stamp
  = ROS time of the reading. Published every cycle in INACTIVE, ACTIVE and FAULT.
- pub ``~/state``, ``std_msgs/String`` (latched, on every change and at ``diagnostics_rate_hz``): JSON
  ``{"state": "ACTIVE", "lifecycle": "active", "fault": null | "ESTOP: ...", "fault_code": null |
  "estop", "motion": "track", "robot": "panda", "backend": "mujoco", "joint_names": [...]}``.
- pub ``/diagnostics``, ``diagnostic_msgs/DiagnosticArray`` at ``diagnostics_rate_hz`` and on state
  changes: the HAL state, the fault, the last ``FilterReport`` (clamps, watchdog, speed scale, tracking
  error), loop statistics, cumulative violation counts per kind (``violations.jump`` ...) and the last
  violation's message, rejected commands and the last reason.
- pub ``/scene_state`` (only with the simulated scene world, ``task`` set), ``std_msgs/String``: JSON of
  ``TabletopSceneArm.scene_state()`` (the task env's observation vector and layout, object poses, the
  simulation's success predicate) at ``scene_rate_hz``: the simulated perception stream.
- sub ``heartbeat_topic`` (param; "" = none), ``std_msgs/Header``: the executor's heartbeat (skill_server's
  ``~/heartbeat``). The watch is armed by the first heartbeat (after start, or after a HEARTBEAT
  fault), never before: an executor that is still starting faults nothing. It stays armed across other
  faults' resets and lifecycle transitions, so an executor that dies right after one still faults. Once armed,
  ``heartbeat_timeout_s`` of silence (loop time) means the executor is gone: the arm decelerates to rest and
  holds, then FAULT (HEARTBEAT) latches; ``~/reset_fault`` clears it and the next heartbeat arms the watch
  again. Start-up grace: for ``heartbeat_startup_grace_s`` after the first heartbeat the tolerated silence is
  ``max(heartbeat_timeout_s, heartbeat_startup_grace_s)``, because an executor beats as soon as its node
  exists and may then pause while it finishes starting (loading a skill library, discovering the graph).
- srv ``~/estop``, ``~/reset_fault``, ``~/stop`` (``std_srvs/Trigger``): latch FAULT (ESTOP) and hold; clear
  a fault (and re-activate); decelerate to a stop and hold (no fault).

Parameters: ``backend`` (fake | mujoco | pybullet | ros2), ``robot`` (description name or path),
``rate_hz``, ``rt_priority`` (> 0: SCHED_FIFO for every thread of the node's process, set at configure),
``write_on_command`` (false: each cycle is read -> write at the timer tick, as ros2_control;
true: read at the tick, and the cycle's write runs as soon as a fresh command or stop arrives, else at the
next tick: still one filter update per cycle, and the command reaches the backend without waiting up to a
period for the tick: see docs/execution.md), ``timing_log`` (a path: record loop and command timing, written
as .npz when the node closes; benchmarks/ros_latency.py), ``task`` (mujoco only: tabletop env id whose scene is the arm's world; "" for the bare arm),
``seed``, ``autostart``, topic names, ``safety.<key>`` (SafetyConfig overrides), ``backend_args.<key>``
(extra backend constructor arguments, e.g. the ros2 backend's topics).
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import sys
import threading
import time
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.task import Future
from sensor_msgs.msg import JointState
from std_msgs.msg import Header, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from skill_rl.hardware import (
    FaultCode,
    HalFaultError,
    HalState,
    HalStateError,
    JointPositionCommand,
    Motion,
    load_description,
    make_backend,
)
from skill_rl.hardware.backends import backend_class

from ._common import (
    COMMANDS,
    LATCHED,
    STREAM,
    diagnostics_msg,
    joint_state_msg,
    run_node,
    set_realtime_priority,
    stamp_s,
)
from .env import ensure_interfaces, isolate_dds

ensure_interfaces()
from skill_interfaces.action import GripperCommand  # noqa: E402
from skill_interfaces.msg import ArmState, ObjectStates  # noqa: E402
from skill_interfaces.srv import ClaimArm, ResetWorld  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from .description import ArmTree, arm_state_msg, object_states_msg, object_transforms, tf_message  # noqa: E402

__all__ = ["ArmHalNode", "main"]

PARAMS: dict[str, Any] = {
    "backend": "mujoco",
    "robot": "panda",
    "rate_hz": 0.0,  # 0: the description's nominal rate
    "task": "",  # mujoco backend: tabletop env id whose scene is the arm's world
    "seed": 0,
    "autostart": True,
    "command_topic": "~/joint_command",
    "gripper_action": "~/gripper_cmd",  # skill_interfaces/action/GripperCommand (control_msgs' GripperCommand)
    "joint_states_topic": "/joint_states",
    "object_states_topic": "/object_states",  # simulated perception (only with a task world)
    "object_rate_hz": 20.0,
    "publish_object_states": True,  # false: the simulated perception stops (tests of stale perception), at runtime
    "tf_rate_hz": 20.0,  # /tf (the arm's moving links, and world -> objects with a task world)
    "publish_description": True,  # /robot_description (URDF generated from the MuJoCo model) and /tf_static
    "diagnostics_rate_hz": 2.0,
    "heartbeat_topic": "",  # std_msgs/Header from the executor (skill_server's ~/heartbeat); "": not watched
    "heartbeat_timeout_s": 0.5,  # heard once, then silent this long: hold, then FAULT (HEARTBEAT)
    "heartbeat_startup_grace_s": 5.0,  # for this long after the first heartbeat, tolerate this much silence
    "rt_priority": 0,  # > 0: SCHED_FIFO at this priority for every thread of the process (needs CAP_SYS_NICE)
    "write_on_command": False,  # true: a cycle writes as soon as its fresh command arrives (see the docstring)
    "timing_log": "",  # path: record loop and command timing, written (npz) when the node closes
}


class _TimingLog:
    """Loop and command timing of one ``arm_hal`` run (param ``timing_log``), for benchmarks/ros_latency.py.

    Cycle start/end: ``time.monotonic_ns()``. Commands: the sender's ``header.stamp`` (ROS time, ns; the
    key that matches a sent command), the receipt and the moment ``hal.write`` returned after sending the
    filtered setpoint to the backend, both ``time.time_ns()`` (the clock ROS time uses, shared by every
    process on the machine). Plain lists: appending an int costs ~50 ns in the loop.
    """

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.recv: list[tuple[int, int]] = []
        self.apply: list[tuple[int, int]] = []

    def cycle_start(self, t: int) -> None:
        self.starts.append(t)

    def cycle_end(self, t: int) -> None:
        self.ends.append(t)

    def received(self, origin: int, t: int) -> None:
        self.recv.append((origin, t))

    def applied(self, origin: int, t: int) -> None:
        self.apply.append((origin, t))

    def save(self, path: str, rate_hz: float) -> None:
        """Write an ``.npz`` atomically (a temporary file in the same folder, then rename)."""
        import os
        import tempfile

        n = min(len(self.starts), len(self.ends))
        arrays = {
            "rate_hz": np.array(rate_hz, dtype=np.float64),
            "cycle_start_ns": np.array(self.starts[:n], dtype=np.int64),
            "cycle_end_ns": np.array(self.ends[:n], dtype=np.int64),
            "recv": np.array(self.recv, dtype=np.int64).reshape(-1, 2),
            "apply": np.array(self.apply, dtype=np.int64).reshape(-1, 2),
        }
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".timing_", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise


OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels


class ArmHalNode(LifecycleNode):
    """See the module docstring."""

    def __init__(self, node_name: str = "arm_hal", **kwargs: Any):
        super().__init__(node_name, allow_undeclared_parameters=True,
                         automatically_declare_parameters_from_overrides=True, **kwargs)
        for name, default in PARAMS.items():
            if not self.has_parameter(name):
                self.declare_parameter(name, default)
        self.hal = None
        self.exit_code = 0
        self._lifecycle = "unconfigured"
        self._command: JointPositionCommand | None = None
        self._gripper_cmd: tuple[float, float | None] | None = None  # (opening m, force N) from the owner
        self._stop_requested = False
        self._cmd_lock = threading.Lock()
        self._timer = None
        self._cycle = 0
        self._last_state_key: tuple = ()
        self._diag_every = self._object_every = 1
        self._fault_logged = False
        self._rejected = 0
        self._last_rejection = ""
        self._owner = ""  # who holds command authority (ClaimArm), "" nobody
        self._token = ""  # the owner's token: commands must carry it in header.frame_id
        self._refused = 0  # commands refused for not carrying the owner's token
        self._last_refusal = ""
        self._refused_reported = 0  # refusals already reported as a WARN in /diagnostics
        self._fault_deactivated = False  # the lifecycle went inactive because a FAULT latched
        self._last_width = 0.0  # the gripper's opening at the last published cycle (m)
        self._width_change = 0.0  # its change over the last cycle (m): are the fingers moving?
        self._violations: dict[str, int] = {}  # violation clamps (jump, joint_limit, ...) per kind, cumulative
        self._last_violation = ""
        self._received = 0
        self._loop_dt_max = 0.0
        self._last_cycle_t: float | None = None
        self._names: tuple[str, ...] = ()
        self._finger_names: tuple[str, ...] = ()
        self._command_origin = 0  # header.stamp (ns) of the pending command, for the timing log
        self._write_on_command = bool(self.p("write_on_command"))
        self._write_pending = False
        self.timing = _TimingLog() if self.p("timing_log") else None
        p = self.p
        self.pub_joints = self.create_publisher(JointState, p("joint_states_topic"), STREAM)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", STREAM)
        self.pub_state = self.create_publisher(ArmState, "~/state", LATCHED)
        self.pub_objects = self.create_publisher(ObjectStates, p("object_states_topic"), STREAM) if p("task") else None
        self.pub_tf = self.create_publisher(TFMessage, "/tf", STREAM)
        self.pub_tf_static = self.create_publisher(TFMessage, "/tf_static", LATCHED)
        self.pub_description = self.create_publisher(String, "/robot_description", LATCHED)
        self._tree: ArmTree | None = None
        self._tf_every = 1
        self.create_subscription(JointTrajectory, p("command_topic"), self._on_command, COMMANDS)
        self._objects_on = bool(p("publish_object_states"))
        self.add_on_set_parameters_callback(self._on_params)
        self._gripper_server = ActionServer(self, GripperCommand, p("gripper_action"),
                                            execute_callback=self._gripper_execute, goal_callback=self._gripper_goal,
                                            cancel_callback=lambda _goal: CancelResponse.ACCEPT)
        self._hb_topic = str(p("heartbeat_topic"))
        self._hb_heard = False  # a heartbeat came since the last cycle
        self._hb_armed = False  # heard at least once since start / the last HEARTBEAT fault
        self._hb_silence = 0.0  # s of loop time without one (a stalled loop counts two periods at most)
        self._hb_lost_at: float | None = None  # when the hold for a lost heartbeat began
        self._hb_armed_at = 0.0  # monotonic time of the first heartbeat since arming (start-up grace)
        self._hb_last_stamp: float | None = None  # when the last heard heartbeat was sent (its stamp, ROS time)
        if self._hb_topic:
            self.create_subscription(Header, self._hb_topic, self._on_heartbeat, COMMANDS)
        self.create_service(Trigger, "~/estop", self._srv_estop)
        self.create_service(Trigger, "~/reset_fault", self._srv_reset)
        self.create_service(Trigger, "~/stop", self._srv_stop)
        self.create_service(ClaimArm, "~/claim", self._srv_claim)
        self.create_service(ResetWorld, "~/reset_world", self._srv_reset_world)
        self._publish_state(force=True)

    def p(self, name: str) -> Any:
        return self.get_parameter(name).value

    def _on_params(self, params: list[Any]) -> Any:
        from rcl_interfaces.msg import SetParametersResult

        for param in params:
            if param.name == "publish_object_states":
                self._objects_on = bool(param.value)
        return SetParametersResult(successful=True)

    # -------------------------------------------------------- lifecycle callbacks
    def _build_hal(self):
        description = load_description(self.p("robot"))
        rate = float(self.p("rate_hz"))
        if rate > 0 and abs(rate - description.nominal_rate_hz) > 1e-9:
            description = dataclasses.replace(description, nominal_rate_hz=rate)
        safety = {k: v.value for k, v in self.get_parameters_by_prefix("safety").items()}
        args = {k: v.value for k, v in self.get_parameters_by_prefix("backend_args").items()}
        backend = self.p("backend")
        if backend == "mujoco" and self.p("task"):
            from .scene import TabletopSceneArm

            return TabletopSceneArm(description, task=self.p("task"), seed=int(self.p("seed")), safety=safety or None,
                                    auto_step=True, **args)
        from skill_rl.hardware.backends._sim import SimulatedArm

        if issubclass(backend_class(backend), SimulatedArm):
            args.setdefault("auto_step", True)  # the physics follows the wall clock
        return make_backend(backend, description=description, safety=safety or None, **args)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        if int(self.p("rt_priority")) > 0:
            set_realtime_priority(int(self.p("rt_priority")), self.get_logger())
        try:
            self.hal = self._build_hal()
            self.hal.configure()
        except Exception as e:  # noqa: BLE001 - a failed transition reports, never crashes the node
            self.get_logger().error(f"configure failed: {e}")
            self.hal = None
            return TransitionCallbackReturn.FAILURE
        self._names = tuple(self.hal.joint_names)
        robot = self.hal.description.name
        self._finger_names = (f"{robot}_finger_joint1", f"{robot}_finger_joint2") if self.hal.gripper else ()
        rate = self.hal.description.nominal_rate_hz
        self._diag_every = max(1, int(round(rate / max(float(self.p("diagnostics_rate_hz")), 1e-3))))
        self._object_every = max(1, int(round(rate / max(float(self.p("object_rate_hz")), 1e-3))))
        self._tf_every = max(1, int(round(rate / max(float(self.p("tf_rate_hz")), 1e-3))))
        if self.p("publish_description"):
            self._publish_description()
        self._timer = self.create_timer(self.hal.description.period, self._loop)
        self._lifecycle = "inactive"
        self.get_logger().info(
            f"configured {self.hal!r}: loop {self.hal.description.nominal_rate_hz:g} Hz, commands on "
            f"{self.resolve_topic_name(self.p('command_topic'))}")
        self._publish_state(force=True)
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.hal is None:
            return TransitionCallbackReturn.FAILURE
        if self.hal.state is HalState.FAULT:
            self.get_logger().error(f"cannot activate: FAULT latched ({self.hal.fault}); call ~/reset_fault")
            return TransitionCallbackReturn.FAILURE
        try:
            with self._cmd_lock:
                self._command = None
                self._stop_requested = False
            self.hal.activate()
        except Exception as e:  # noqa: BLE001
            self.get_logger().error(f"activate failed: {e}")
            return TransitionCallbackReturn.FAILURE
        self._lifecycle = "active"
        self._fault_logged = False
        self._publish_state(force=True)
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.hal is not None and self.hal.state is HalState.ACTIVE:
            self.hal.deactivate()
        self._lifecycle = "inactive"
        self._publish_state(force=True)
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.hal is not None:
            if self.hal.state is HalState.FAULT:
                self.get_logger().error(f"cannot clean up with a FAULT latched ({self.hal.fault}); call ~/reset_fault")
                return TransitionCallbackReturn.FAILURE
            self._stop_loop()
            self.hal.cleanup()
            self.hal = None
        self._lifecycle = "unconfigured"
        self._publish_state(force=True)
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.close()
        self._lifecycle = "finalized"
        self._publish_state(force=True)
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self.hal is not None and self.hal.state is not HalState.FINALIZED:
            self.hal.estop("lifecycle on_error")
        return TransitionCallbackReturn.SUCCESS

    def _stop_loop(self) -> None:
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None

    def close(self) -> None:
        """Stop the loop and shut the HAL down (hold, disconnect); safe to call twice. Writes the timing
        log when ``timing_log`` is set."""
        self._stop_loop()
        if self.timing is not None:
            try:
                self.timing.save(self.p("timing_log"), rate_hz=self.hal.description.nominal_rate_hz if self.hal else 0.0)
            except Exception as e:  # noqa: BLE001 - report, keep shutting down
                self.get_logger().error(f"could not write the timing log: {e}")
            self.timing = None
        if self.hal is not None and self.hal.state is not HalState.FINALIZED:
            try:
                self.hal.shutdown()
            except Exception as e:  # noqa: BLE001
                self.get_logger().warning(f"HAL shutdown: {e}")

    # -------------------------------------------------------- inputs
    def _on_command(self, msg) -> None:
        hal = self.hal
        if hal is None:
            return
        stamp = hal.clock()
        self._received += 1
        origin = 0
        if self.timing is not None:
            origin = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            self.timing.received(origin, time.time_ns())
        if len(msg.points) == 0:
            with self._cmd_lock:
                self._command = None
                self._stop_requested = True
            if self._write_pending:
                self._write_cycle()
            return
        if not self._token or msg.header.frame_id != self._token:
            self._refused += 1
            self._last_refusal = (f"a JointTrajectory without the owner's token: the arm is owned by {self._owner!r}"
                                  if self._owner else "a JointTrajectory while nobody owns the arm (call ~/claim)")
            self.get_logger().warning(f"refused {self._last_refusal} ({self._refused} refused so far)",
                                      throttle_duration_sec=2.0)
            return
        reason = self._malformed(msg)
        if reason:
            self._rejected += 1
            self._last_rejection = reason
            self.get_logger().warning(f"rejected a JointTrajectory: {reason}", throttle_duration_sec=2.0)
            return
        n = len(self._names)
        point = msg.points[0]
        positions = np.asarray(point.positions, dtype=np.float64)
        gripper = None
        if len(positions) == n + 1:  # the gripper joint rides along: its opening per finger, m; effort = force, N
            force = float(point.effort[n]) if len(point.effort) == n + 1 and point.effort[n] > 0 else None
            gripper = (2.0 * float(positions[n]), force)
            positions = positions[:n]
        names = tuple(msg.joint_names[:n]) or None
        cmd = JointPositionCommand(positions, stamp, names)
        with self._cmd_lock:
            self._command = cmd
            self._command_origin = origin
            self._stop_requested = False
            if gripper is not None:
                self._gripper_cmd = gripper
        if self._write_pending:
            self._write_cycle()

    def _malformed(self, msg) -> str:
        """Why a non-empty JointTrajectory cannot be a command ("" when it can): it must be one point
        with a position per joint, for ``joint_names`` empty or the arm's own, in order (JTC's and the
        UR driver's INVALID_GOAL / INVALID_JOINTS cases), optionally followed by the gripper joint
        (``<robot>_finger_joint1``, named). Rejected commands are not a fault: nothing reaches the filter, the
        arm keeps its last command (and its watchdog)."""
        n = len(self._names)
        if len(msg.points) != 1:
            return f"{len(msg.points)} points: send exactly one point (the target) or none (stop)"
        names = list(msg.joint_names)
        if self._finger_names and names == [*self._names, self._finger_names[0]]:
            point = msg.points[0]
            if len(point.positions) != n + 1:
                return f"the point has {len(point.positions)} positions for {n + 1} joint names"
            if not math.isfinite(point.positions[n]):
                return f"the gripper joint's position is {point.positions[n]}"
            return ""
        if names and names != list(self._names):
            if sorted(names) == sorted(self._names):
                return f"joint_names {names} are the arm's joints in another order; the order must be {list(self._names)}"
            unknown = [x for x in names if x not in self._names]
            missing = [x for x in self._names if x not in names]
            return (f"joint_names do not match the arm's: unknown {unknown}, missing {missing} "
                    f"(send the arm's {n} joints, in order, or no names)")
        point = msg.points[0]
        if len(point.positions) != n:
            return f"the point has {len(point.positions)} positions; the arm has {n} joints"
        if len(point.velocities) not in (0, n):
            return f"the point has {len(point.velocities)} velocities; give none or one per joint ({n})"
        return ""

    def _on_heartbeat(self, msg) -> None:
        self._hb_heard = True
        self._hb_last_stamp = stamp_s(msg.stamp)  # std_msgs/Header: when the executor sent it
        if not self._hb_armed:
            self._hb_armed, self._hb_armed_at = True, time.monotonic()

    def _check_heartbeat(self, hal, dt: float) -> None:
        """Executor died (its heartbeat, once heard, stopped for ``heartbeat_timeout_s`` of loop time):
        bring the arm to rest within the acceleration limits and hold, then latch FAULT (HEARTBEAT); goals
        and commands are refused until ``~/reset_fault`` (survey table D: executor dies -> hold -> FAULT).
        Silence is counted in loop time, at most two periods per cycle, so a stall of this process is
        not taken for the executor's death."""
        if self._hb_heard:
            self._hb_heard, self._hb_silence, self._hb_lost_at = False, 0.0, None
            return
        if not self._hb_armed or hal.state is not HalState.ACTIVE:
            return
        self._hb_silence += min(dt, 2.0 * hal.description.period)
        now = time.monotonic()
        timeout = float(self.p("heartbeat_timeout_s"))
        grace = float(self.p("heartbeat_startup_grace_s"))
        if now - self._hb_armed_at < grace:
            timeout = max(timeout, grace)
        if self._hb_silence <= timeout:
            return
        if self._hb_lost_at is None:
            self._hb_lost_at = now
            with self._cmd_lock:
                self._command, self._stop_requested = None, True
            sent = self._hb_last_stamp
            ago = f" (the last one heard was sent {self.get_clock().now().nanoseconds * 1e-9 - sent:.2f} s ago)" \
                if sent is not None else ""
            self.get_logger().error(f"no heartbeat on {self._hb_topic} for {self._hb_silence:.2f} s{ago}: the "
                                    f"executor is gone; stopping the arm, then FAULT")
            return
        report = hal.last_report
        if (report is not None and report.motion is Motion.HOLD) or now - self._hb_lost_at > 3.0:
            hal.latch_fault(FaultCode.HEARTBEAT, f"no heartbeat on {self._hb_topic} for {self._hb_silence:.2f} s "
                            f"(timeout {timeout:g} s): the executor is gone; the arm was stopped and holds")
            self._hb_armed, self._hb_lost_at, self._hb_silence = False, None, 0.0

    # -------------------------------------------------------- gripper action (control_msgs' GripperCommand)
    def _gripper_goal(self, goal) -> Any:
        hal = self.hal
        reason = ""
        if hal is None or hal.gripper is None:
            reason = "this arm has no gripper"
        elif hal.state is not HalState.ACTIVE:
            reason = f"the arm is {hal.state.name}"
        elif self._owner:
            reason = f"the arm is owned by {self._owner!r}, which commands the gripper on its joint command"
        elif not (math.isfinite(goal.command.position) and math.isfinite(goal.command.max_effort)):
            reason = f"non-finite goal {goal.command.position}, {goal.command.max_effort}"
        if reason:
            self._last_rejection = f"gripper goal: {reason}"
            self.get_logger().warning(f"rejected a gripper goal: {reason}")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    async def _gripper_execute(self, goal_handle) -> Any:
        """Move the fingers to ``position`` (total opening, m) with at most ``max_effort`` N (0: the gripper's
        own); done when the opening is within 2 mm of the target (reached) or has not changed for 0.3 s
        (stalled, e.g. on an object). Cancel: the fingers stop where they are. Polled by a timer, so the
        single-threaded executor (and the control loop) never blocks."""
        hal, cmd = self.hal, goal_handle.request.command
        gripper = hal.gripper
        force = float(cmd.max_effort) if cmd.max_effort > 0 else None
        try:
            gripper.command(float(cmd.position), force=force)
        except Exception as e:  # noqa: BLE001 - a value out of range or a state change: abort with the reason
            self.get_logger().warning(f"gripper goal aborted: {e}")
            goal_handle.abort()
            return GripperCommand.Result(position=gripper.read())
        done: Future = Future()
        track = {"last": gripper.read(), "since": time.monotonic(), "t0": time.monotonic()}

        def tick() -> None:
            if done.done():
                return
            width, now = gripper.read(), time.monotonic()
            result = GripperCommand.Result(position=width, effort=float(force or 0.0))
            if goal_handle.is_cancel_requested or self.hal is None or self.hal.state is not HalState.ACTIVE:
                try:
                    gripper.command(width, force=force)  # stop where the fingers are
                except Exception:  # noqa: BLE001 - the arm left ACTIVE: the gripper holds anyway
                    pass
                done.set_result(("canceled" if goal_handle.is_cancel_requested else "aborted", result))
                return
            if abs(width - track["last"]) > 2e-4:
                track["last"], track["since"] = width, now
            result.reached_goal = abs(width - float(cmd.position)) < 2e-3
            result.stalled = not result.reached_goal and now - track["since"] > 0.3
            goal_handle.publish_feedback(GripperCommand.Feedback(position=result.position, effort=result.effort,
                                                                 stalled=result.stalled, reached_goal=result.reached_goal))
            if result.reached_goal or result.stalled or now - track["t0"] > 10.0:
                done.set_result(("succeed", result))

        timer = self.create_timer(0.02, tick)
        try:
            outcome, result = await done
        finally:
            self.destroy_timer(timer)
        getattr(goal_handle, {"succeed": "succeed", "canceled": "canceled", "aborted": "abort"}[outcome])()
        return result

    # -------------------------------------------------------- services
    def _srv_estop(self, request, response):
        if self.hal is None or self.hal.state is HalState.FINALIZED:
            response.success, response.message = False, "no arm configured"
            return response
        self.hal.estop("estop service called")
        self.get_logger().error(f"E-STOP: FAULT latched ({self.hal.fault})")
        self._publish_state(force=True)
        response.success, response.message = True, str(self.hal.fault)
        return response

    def _srv_reset(self, request, response):
        hal = self.hal
        if hal is None or hal.state is not HalState.FAULT:
            response.success = False
            response.message = f"no fault latched (arm {hal.state.name if hal else 'not configured'})"
            return response
        old = str(hal.fault)
        hal.reset()
        # The watch stays armed across a reset: an executor heard before is expected to go on beating, and one
        # that dies right after the reset (before its next beat) must still fault the arm. Disarmed only by a
        # HEARTBEAT fault itself (at the latch): a new executor arms it again with its first beat.
        self._hb_lost_at, self._hb_silence = None, 0.0
        with self._cmd_lock:
            self._command = None
            self._gripper_cmd = None
            self._stop_requested = False
        message = f"cleared {old}"
        if self._fault_deactivated or self._lifecycle == "active":
            self._fault_deactivated = False
            try:
                if self._lifecycle == "active":  # the fault latched between two cycles: still active
                    hal.activate()
                elif self.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                    raise RuntimeError("the activate transition failed (see the log)")
                message += "; re-activated (setpoint seeded from the measured state)"
            except Exception as e:  # noqa: BLE001
                response.success, response.message = False, f"{message}; re-activation failed: {e}"
                self._publish_state(force=True)
                return response
        self._fault_logged = False
        self.get_logger().info(message)
        self._publish_state(force=True)
        response.success, response.message = True, message
        return response

    def _srv_claim(self, request, response):
        """Command arbitration (``skill_interfaces/srv/ClaimArm``): one owner at a time; the same owner name
        claiming again (e.g. a respawned skill server) gets the current token back."""
        owner = request.owner.strip()
        if not owner:
            response.success, response.message = False, "owner must name the caller (e.g. its node name)"
        elif request.release:
            if owner != self._owner:
                response.success = False
                response.message = f"{owner!r} does not hold the arm (owner: {self._owner or 'nobody'})"
            else:
                self._release(f"released by {owner}")
                response.success, response.message = True, "released; the arm stops and holds"
        elif self._owner and owner != self._owner:
            response.success = False
            response.message = f"the arm is owned by {self._owner!r}; it must release it first"
        else:
            if owner != self._owner or not self._token:
                self._owner, self._token = owner, secrets.token_hex(8)
                self.get_logger().info(f"the arm is owned by {owner!r}")
            response.success, response.message, response.token = True, f"owned by {owner!r}", self._token
        self._publish_state(force=True)
        return response

    def _release(self, why: str) -> None:
        """Nobody owns the arm any more: stop (arm and gripper) and hold until the next owner commands."""
        self.get_logger().info(f"the arm is free ({why})")
        self._owner = self._token = ""
        with self._cmd_lock:
            self._command, self._gripper_cmd, self._stop_requested = None, None, False
        hal = self.hal
        if hal is not None and hal.state is HalState.ACTIVE:  # now, not at the next write: a later gripper
            hal.stop()  # goal must not be frozen by this stop
            self._stop_gripper(hal)

    def _srv_reset_world(self, request, response):
        """Reset the simulated world (``skill_interfaces/srv/ResetWorld``): objects and arm as the task env's
        ``reset(seed)`` places them; the HAL is deactivated around it and re-activated (re-seeded, no jump)."""
        hal = self.hal
        if hal is None or not hasattr(hal, "reset_world"):
            response.success, response.message = False, "no simulated world to reset here (a real arm, or no task)"
        elif self._owner:
            response.success = False
            response.message = f"the arm is owned by {self._owner!r} (a goal may be running); reset it when it is free"
        elif hal.state not in (HalState.ACTIVE, HalState.INACTIVE):
            response.success, response.message = False, f"the arm is {hal.state.name}: reset the fault first"
        else:
            active = hal.state is HalState.ACTIVE
            try:
                if active:
                    hal.deactivate()
                hal.reset_world(int(request.seed) if request.seed >= 0 else None)
                if active:
                    hal.activate()
                response.success, response.message = True, f"world reset (seed {hal.seed})"
            except Exception as e:  # noqa: BLE001 - report; the HAL's own state says what holds now
                response.success, response.message = False, f"reset failed: {e}"
        self.get_logger().info(f"reset_world: {response.message}")
        self._publish_state(force=True)
        return response

    def _srv_stop(self, request, response):
        if self.hal is None or self.hal.state is not HalState.ACTIVE:
            response.success = False
            response.message = f"arm not ACTIVE ({self.hal.state.name if self.hal else 'not configured'})"
            return response
        with self._cmd_lock:
            self._command = None
            self._stop_requested = True
        response.success, response.message = True, "decelerating to a stop"
        return response

    # -------------------------------------------------------- the loop
    def _loop(self) -> None:
        hal = self.hal
        if hal is None or hal.state in (HalState.UNCONFIGURED, HalState.FINALIZED):
            return
        now = time.monotonic()
        if self.timing is not None:
            self.timing.cycle_start(time.monotonic_ns())
        dt = hal.description.period
        if self._last_cycle_t is not None:
            dt = now - self._last_cycle_t
            self._loop_dt_max = max(self._loop_dt_max, dt)
        self._last_cycle_t = now
        if self._hb_topic:
            self._check_heartbeat(hal, dt)
        self._cycle += 1
        if self._write_pending:  # write_on_command: no fresh command came during the last cycle
            self._write_cycle()
        try:
            state = hal.read()
        except HalFaultError:
            state = None  # the arm cannot be read (FAULT latched): publish no stale joint states
        stamp = self.get_clock().now().to_msg()
        if state is not None:
            # Published before the write (as ros2_control's state broadcaster does between read and
            # write): a controller phase-locked to /joint_states gets the state as early as possible.
            self._publish_joints(stamp, state)
        if self._write_on_command:
            self._write_pending = hal.state is HalState.ACTIVE  # written when its command comes, or next cycle
            if hal.state is HalState.FAULT:
                self._log_fault(hal.fault)
        else:
            self._write_cycle()
        if hal.state is HalState.FAULT and self._lifecycle == "active":
            self._fault_to_inactive(hal)
        changed = self._publish_state()
        if changed or self._cycle % self._diag_every == 0:
            self._publish_diagnostics(stamp)
            if not changed:
                self._publish_state(force=True)
        objects = None
        if (self.pub_objects is not None and self._objects_on and self._cycle % self._object_every == 0
                and hasattr(hal, "object_states")):
            objects = hal.object_states()
            self.pub_objects.publish(object_states_msg(objects, stamp, source="sim"))
        if self._tree is not None and state is not None and self._cycle % self._tf_every == 0:
            self._publish_tf(stamp, state, objects)
        if self.timing is not None:
            self.timing.cycle_end(time.monotonic_ns())

    def _write_cycle(self) -> None:
        """The write half of a cycle: the newest command (or None) through ``hal.write`` (the filter)."""
        hal = self.hal
        self._write_pending = False
        if hal.state is HalState.ACTIVE:
            with self._cmd_lock:
                cmd, self._command = self._command, None
                grip, self._gripper_cmd = self._gripper_cmd, None
                stop, self._stop_requested = self._stop_requested, False
                origin = self._command_origin
            if self._hb_lost_at is not None:
                cmd = grip = None  # the executor is gone: nothing resumes motion until the fault is reset
            if stop:
                hal.stop()
                self._stop_gripper(hal)  # a stop stops the fingers too
            if grip is not None and hal.gripper is not None:
                try:
                    hal.gripper.command(grip[0], force=grip[1])
                except Exception as e:  # noqa: BLE001 - out of range: report, the arm command still applies
                    self._last_rejection = f"gripper target {grip}: {e}"
            try:
                hal.write(cmd)
                if cmd is not None and self.timing is not None:
                    self.timing.applied(origin, time.time_ns())
            except HalFaultError as e:
                self._log_fault(e.fault)
            except HalStateError:
                pass
            report = hal.last_report
            if report is not None and report.clamps:
                for c in report.violations:
                    self._violations[c.kind.value] = self._violations.get(c.kind.value, 0) + 1
                    self._last_violation = c.message
        elif hal.state is HalState.FAULT:
            self._log_fault(hal.fault)

    def _publish_description(self) -> None:
        """``/robot_description`` (URDF, latched) and ``/tf_static`` (the fixed links), from the MuJoCo model of
        the simulated arm (the HAL's own model when the backend is MuJoCo): RViz shows the arm with them."""
        from .description import simulated_arm_model

        try:
            model = getattr(self.hal, "model", None) or simulated_arm_model()
            self._tree = ArmTree(model, description=self.hal.description)
        except Exception as e:  # noqa: BLE001 - another robot than the tabletop Panda: no URDF, say so
            self.get_logger().warning(f"no /robot_description or /tf: {e}")
            self._tree = None
            return
        self.pub_description.publish(String(data=self._tree.urdf()))
        stamp = self.get_clock().now().to_msg()
        self.pub_tf_static.publish(tf_message(self._tree.transforms(moving=False), stamp))

    def _publish_tf(self, stamp, state, objects) -> None:
        positions = dict(zip(self._names, state.position, strict=True))
        if self._finger_names:
            fingers = getattr(self.hal, "finger_positions", None)
            width = self.hal.gripper.read()
            each = fingers() if fingers is not None else (width / 2.0, width / 2.0)
            positions.update(dict(zip(self._finger_names, each, strict=True)))
        transforms = self._tree.transforms(positions, moving=True)
        if objects is not None:
            transforms += object_transforms(objects)
        self.pub_tf.publish(tf_message(transforms, stamp))

    def _stop_gripper(self, hal) -> None:
        """Stop the fingers where they are if they are moving (opening or closing on air); fingers that rest on
        an object keep their command and its force: a stop must not loosen a grasp (the held cube would slip out
        while the arm brakes)."""
        gripper = hal.gripper
        if gripper is None:
            return
        if abs(self._width_change) > 2e-4:  # moved more than 0.2 mm over the last cycle
            gripper.command(gripper.read())

    def _fault_to_inactive(self, hal) -> None:
        """A latched FAULT shows in the lifecycle too: the node goes ``inactive`` (its ``get_state`` no longer
        says active while nothing can move), and ``~/reset_fault`` brings it back to ``active``."""
        self._log_fault(hal.fault)
        if self.trigger_deactivate() == TransitionCallbackReturn.SUCCESS:
            self._fault_deactivated = True

    def _log_fault(self, fault) -> None:
        if not self._fault_logged:
            self._fault_logged = True
            self.get_logger().error(f"FAULT latched: {fault}; the arm holds until ~/reset_fault")

    def _publish_joints(self, stamp, state) -> None:
        names, pos, vel, eff = list(self._names), list(state.position), list(state.velocity), list(state.effort)
        if self._finger_names:
            fingers = getattr(self.hal, "finger_positions", None)
            width = self.hal.gripper.read()
            self._width_change, self._last_width = width - self._last_width, width
            names += list(self._finger_names)
            pos += list(fingers()) if fingers is not None else [width / 2.0, width / 2.0]
            vel += [0.0, 0.0]
            eff += [0.0, 0.0]
        self.pub_joints.publish(joint_state_msg(stamp, names, pos, vel, eff))

    def state_dict(self) -> dict[str, Any]:
        hal = self.hal
        fault = hal.fault if hal is not None else None
        report = hal.last_report if hal is not None else None
        return {
            "state": hal.state.name if hal is not None else "UNCONFIGURED",
            "lifecycle": self._lifecycle,
            "fault": str(fault) if fault else None,
            "fault_code": fault.code.value if fault else None,
            # a faulted or inactive arm holds, whatever the filter's last report said
            "motion": report.motion.value if report is not None and hal.state is HalState.ACTIVE else "hold",
            "owner": self._owner,
            "robot": hal.description.name if hal is not None else self.p("robot"),
            "backend": self.p("backend"),
            "joint_names": list(self._names),
        }

    def _publish_state(self, force: bool = False) -> bool:
        hal = self.hal
        key = (hal.state if hal is not None else None, self._lifecycle, hal.fault if hal is not None else None,
               self._owner)
        if not force and key == self._last_state_key:  # (cheap: this runs every cycle)
            return False
        self._last_state_key = key
        self.pub_state.publish(arm_state_msg(self.state_dict(), self.get_clock().now()))
        return True

    def _publish_diagnostics(self, stamp) -> None:
        hal = self.hal
        d = self.state_dict()
        values = {"hal_state": d["state"], "lifecycle": d["lifecycle"], "backend": d["backend"],
                  "fault": d["fault"] or "", "fault_code": d["fault_code"] or "",
                  "commands_received": str(self._received), "commands_rejected": str(self._rejected),
                  "commands_refused": str(self._refused), "last_refusal": self._last_refusal, "owner": self._owner,
                  "last_rejection": self._last_rejection, "last_violation": self._last_violation,
                  "loop_rate_hz": f"{hal.description.nominal_rate_hz:g}",
                  "loop_max_period_s": f"{self._loop_dt_max:.4f}",
                  # whether the executor's death would be noticed now: the watch arms at its first heartbeat
                  "heartbeat": ("armed" if self._hb_armed else "not heard yet") if self._hb_topic else "not watched"}
        values.update({f"stats.{k}": str(v) for k, v in hal.stats.items()})
        values.update({f"violations.{k}": str(v) for k, v in self._violations.items()})
        report = hal.last_report
        if report is not None:
            values.update({f"filter.{k}": v for k, v in report.as_dict().items()})
        if hal.state is HalState.FAULT:
            level, message = ERROR, f"FAULT: {hal.fault}"
        elif hal.state is not HalState.ACTIVE:
            level, message = WARN, f"arm {hal.state.name}"
        elif self._refused > self._refused_reported:
            level, message = WARN, f"refused {self._refused - self._refused_reported} command(s): {self._last_refusal}"
        elif report is not None and (report.watchdog or report.violations or report.rejected):
            level, message = WARN, report.summary()
        else:
            level, message = OK, report.summary() if report is not None else "active"
        self._refused_reported = self._refused
        self.pub_diag.publish(diagnostics_msg(stamp, f"{self.get_name()}: {hal.description.name}",
                                              hal.description.name, level, message, values))
        self._loop_dt_max = 0.0


def main(args: list[str] | None = None) -> int:
    isolate_dds()

    def make():
        node = ArmHalNode()
        if node.p("autostart"):
            if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
                raise SystemExit(f"arm_hal: configure failed (backend {node.p('backend')!r}); see the log above")
            if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
                raise SystemExit("arm_hal: activate failed; see the log above")
            node.get_logger().info(f"active: {node.hal!r}")
        return node

    return run_node(make, args=args)


if __name__ == "__main__":
    sys.exit(main())
