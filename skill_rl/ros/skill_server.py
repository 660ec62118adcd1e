"""``skill_server``: the ``execute_skill`` action server (``skill_interfaces/action/ExecuteSkill``).

Run: ``python -m skill_rl.ros.skill_server --ros-args --params-file launch/sim.yaml``.

A goal names a primitive (``skill_rl.ros.primitives.PRIMITIVES``: ``pick_place``, ``lift``, ``home``), its
params (a JSON object) and a timeout. The server runs the primitive closed-loop on the world's clock: once
per new ``/scene_state`` (published by ``arm_hal`` at its ``scene_rate_hz``, 20 Hz), at most ``rate_hz``
(0: the primitive's own rate), it takes that state, steps the primitive,
and publishes its joint position target to ``<arm>/joint_command`` (one-point JointTrajectory) and its
gripper width to ``<arm>/gripper_command``; ``arm_hal``'s SafetyFilter is on that path. Feedback
``{progress, phase}`` goes out every cycle.

Goal policy:

- one goal at a time: a goal that arrives while one runs is **rejected**; so is every goal while the arm
  (``<arm>/state``) is not ACTIVE (FAULT, inactive, not seen yet);
- ``~/status`` (latched, on change): ``{"busy", "skill", "arm_state", "arm_fault"}``, the state this
  server decides on (a client that just reset the arm can wait for ``arm_state: ACTIVE`` here);
- unknown skill (or one the world cannot run) -> aborted, ``UNKNOWN_SKILL``; bad params -> ``BAD_PARAMS``;
- cancel -> the arm is stopped (an empty JointTrajectory: decelerate within the acceleration limits, then
  hold), the server waits until every joint is slower than ``rest_velocity_rad_s`` -> ``CANCELED``;
- timeout (the goal's, or the primitive's default when <= 0) -> the same controlled stop -> aborted,
  ``TIMEOUT``;
- the arm latches a FAULT (e-stop, NaN command, limits...) -> aborted at once, ``FAULT`` (the HAL
  already holds);
- the world stops answering (no scene state for ``state_timeout_s``) -> stop, aborted, ``FAILED``;
- the primitive finishes: success -> stop, ``SUCCESS``; otherwise ``FAILED``; either way the message is
  JSON (the primitive's message, final object poses, steps, duration).

Every terminal path but FAULT ends with the arm at rest (or ``stop_timeout_s`` passed). If this process
dies, no fresh command reaches ``arm_hal`` (its watchdog decelerates the arm to a stop and holds) and its
heartbeat (``~/heartbeat``, std_msgs/Header at ``heartbeat_rate_hz``) stops: ``arm_hal`` (with
``heartbeat_topic`` set, as in launch/sim.yaml) then latches FAULT (HEARTBEAT) once the arm is at rest.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import numpy as np

from .env import ensure_interfaces, isolate_dds

__all__ = ["SkillServerNode", "main"]  # noqa: F822 - built lazily (module __getattr__)

PARAMS: dict[str, Any] = {
    "arm": "/arm_hal",
    "action_name": "execute_skill",
    "scene_state_topic": "/scene_state",
    "rate_hz": 20.0,
    "gripper_force_n": 20.0,
    "gripper_speed_m_s": 0.1,
    "state_timeout_s": 1.0,
    "stop_timeout_s": 3.0,
    "rest_velocity_rad_s": 0.05,
    "heartbeat_rate_hz": 10.0,  # std_msgs/Header on ~/heartbeat while this process lives (arm_hal watches it)
    "rt_priority": 0,  # > 0: SCHED_FIFO at this priority for every thread of the process (needs CAP_SYS_NICE)
}


def _make_node_class():
    ensure_interfaces()
    from rclpy.action import ActionServer, CancelResponse, GoalResponse
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
    from rclpy.node import Node
    from skill_interfaces.action import ExecuteSkill
    from std_msgs.msg import Float64MultiArray, String
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    from ._common import COMMANDS, LATCHED, STREAM, json_dumps, set_realtime_priority
    from .primitives import BadParamsError, KinematicModel, UnknownSkillError, make_primitive

    R = ExecuteSkill.Result

    class SkillServerNode(Node):
        """See the module docstring."""

        def __init__(self, node_name: str = "skill_server", **kwargs: Any):
            super().__init__(node_name, **kwargs)
            for name, default in PARAMS.items():
                self.declare_parameter(name, default)
            self.exit_code = 0
            arm = self.p("arm").rstrip("/")
            self._lock = threading.Lock()
            self._busy = False
            self._hal: dict[str, Any] = {}
            self._scene: dict[str, Any] | None = None
            self._scene_t = 0.0
            self._scene_seq = 0
            self._kin: dict[str, KinematicModel] = {}
            io = MutuallyExclusiveCallbackGroup()
            self.pub_cmd = self.create_publisher(JointTrajectory, f"{arm}/joint_command", COMMANDS)
            self.pub_grip = self.create_publisher(Float64MultiArray, f"{arm}/gripper_command", COMMANDS)
            self.pub_status = self.create_publisher(String, "~/status", LATCHED)
            from std_msgs.msg import Header

            self.pub_heartbeat = self.create_publisher(Header, "~/heartbeat", COMMANDS)
            self._Header = Header
            if float(self.p("heartbeat_rate_hz")) > 0:
                self.create_timer(1.0 / float(self.p("heartbeat_rate_hz")), self._beat, callback_group=io)
            self._status_key = ""
            self.create_subscription(String, f"{arm}/state", self._on_hal_state, LATCHED, callback_group=io)
            self.create_subscription(String, self.p("scene_state_topic"), self._on_scene, STREAM, callback_group=io)
            self._server = ActionServer(
                self, ExecuteSkill, self.p("action_name"), execute_callback=self._execute,
                goal_callback=self._on_goal, cancel_callback=lambda _goal: CancelResponse.ACCEPT,
                callback_group=ReentrantCallbackGroup())
            self._msgs = (JointTrajectory, JointTrajectoryPoint, Float64MultiArray, ExecuteSkill)
            self._String = String
            self._skill = ""
            self._publish_status()
            if int(self.p("rt_priority")) > 0:
                set_realtime_priority(int(self.p("rt_priority")), self.get_logger())
            self.get_logger().info(f"skill server on {self.resolve_topic_name(self.p('action_name'))}, arm {arm}")

        def p(self, name: str) -> Any:
            return self.get_parameter(name).value

        def _beat(self) -> None:
            msg = self._Header(frame_id=self.get_name())
            msg.stamp = self.get_clock().now().to_msg()
            self.pub_heartbeat.publish(msg)

        # -------------------------------------------------------- inputs
        def _on_hal_state(self, msg) -> None:
            try:
                self._hal = json.loads(msg.data)
            except json.JSONDecodeError:
                self.get_logger().warning(f"unreadable arm state {msg.data!r}")
            self._publish_status()

        def _publish_status(self) -> None:
            """Latched ``~/status`` (on change): ``{"busy", "skill", "arm_state", "arm_fault"}``: what this
            server believes, so that clients can tell when a goal would be accepted."""
            status = {"busy": self._busy, "skill": self._skill if self._busy else "",
                      "arm_state": self._hal.get("state", "UNKNOWN"), "arm_fault": self._hal.get("fault")}
            key = json.dumps(status, sort_keys=True)
            with self._lock:
                if key == self._status_key:
                    return
                self._status_key = key
            self.pub_status.publish(self._String(data=key))

        def _on_scene(self, msg) -> None:
            try:
                scene = json.loads(msg.data)
            except json.JSONDecodeError:
                return
            self._scene, self._scene_t = scene, time.monotonic()
            self._scene_seq += 1

        @property
        def hal_active(self) -> bool:
            return self._hal.get("state") == "ACTIVE"

        # -------------------------------------------------------- goal policy
        def _on_goal(self, goal) -> Any:
            end = time.monotonic() + float(self.p("state_timeout_s"))
            while not self._hal and time.monotonic() < end:  # just started: the latched arm state is on its way
                time.sleep(0.02)
            with self._lock:
                if self._busy:
                    self.get_logger().warning(f"rejected goal {goal.skill!r}: busy with another goal")
                    return GoalResponse.REJECT
                if not self.hal_active:
                    self.get_logger().warning(
                        f"rejected goal {goal.skill!r}: the arm is {self._hal.get('state', 'not seen yet')}"
                        + (f" ({self._hal['fault']})" if self._hal.get("fault") else ""))
                    return GoalResponse.REJECT
                self._busy = True
                self._skill = goal.skill
            self._publish_status()
            return GoalResponse.ACCEPT

        def _execute(self, goal_handle) -> Any:
            try:
                code, message = self._run(goal_handle)
            except Exception as e:  # noqa: BLE001 - a bug must not leave the goal hanging
                self.get_logger().error(f"goal failed with an exception: {type(e).__name__}: {e}")
                self._stop_arm()
                code, message = R.FAILED, f"internal error: {type(e).__name__}: {e}"
            finally:
                with self._lock:
                    self._busy = False
                self._publish_status()
            result = R(error_code=code, message=message)
            if code == R.SUCCESS:
                goal_handle.succeed()
            elif code == R.CANCELED:
                goal_handle.canceled()
            else:
                goal_handle.abort()
            name = {v: k for k, v in vars(R).items() if k.isupper() and isinstance(v, int)}.get(code, str(code))
            text = f"goal {goal_handle.request.skill!r}: {name}: {message[:300]}"
            if code == R.SUCCESS:  # (rclpy: one severity per logging call site)
                self.get_logger().info(text)
            else:
                self.get_logger().warning(text)
            return result

        def _kinematics(self, task: str):
            if task not in self._kin:
                self._kin[task] = KinematicModel(task)
            return self._kin[task]

        def _fresh_scene(self) -> dict[str, Any] | None:
            if self._scene is None or time.monotonic() - self._scene_t > float(self.p("state_timeout_s")):
                return None
            return self._scene

        def _run(self, goal_handle) -> tuple[int, str]:
            goal = goal_handle.request
            end = time.monotonic() + float(self.p("state_timeout_s"))
            scene = self._fresh_scene()
            while scene is None and time.monotonic() < end:  # just started: the first scene state is on its way
                time.sleep(0.02)
                scene = self._fresh_scene()
            if scene is None:
                return R.FAILED, f"no fresh scene state on {self.p('scene_state_topic')} (is arm_hal running with a task?)"
            layout = {k: slice(*v) for k, v in scene["layout"].items()}
            try:
                primitive = make_primitive(goal.skill, self._kinematics(scene["task"]), layout, goal.params)
            except UnknownSkillError as e:
                return R.UNKNOWN_SKILL, str(e)
            except BadParamsError as e:
                return R.BAD_PARAMS, str(e)
            rate = float(self.p("rate_hz")) or primitive.rate_hz
            timeout = goal.timeout if goal.timeout > 0 else primitive.default_timeout_s
            period = 1.0 / rate
            primitive.start(np.asarray(scene["obs"], dtype=np.float64))
            t0 = time.monotonic()
            last_step_t = -1.0
            last_seq = self._scene_seq
            steps = 0
            feedback = ExecuteSkill.Feedback()
            while True:
                if goal_handle.is_cancel_requested:
                    rest = self._stop_arm()
                    return R.CANCELED, f"canceled after {steps} steps; arm {'at rest' if rest else 'NOT at rest after the stop timeout'}"
                if not self.hal_active:
                    return R.FAULT, f"the arm left ACTIVE: {self._hal.get('state')} ({self._hal.get('fault') or 'no fault'})"
                now = time.monotonic()
                if now - t0 > timeout:
                    self._stop_arm()
                    return R.TIMEOUT, f"timed out after {timeout:g} s ({steps} steps, phase {feedback.phase!r})"
                scene = self._fresh_scene()
                if scene is None:
                    self._stop_arm()
                    return R.FAILED, f"lost the world: no scene state for {self.p('state_timeout_s')} s"
                # One step per new observation of the world, at most `rate` per second: the primitive runs
                # on the world's clock, so a loaded machine slows it down instead of changing what it does.
                if self._scene_seq == last_seq or now - last_step_t < 0.5 * period:
                    time.sleep(0.005)
                    continue
                last_seq, last_step_t = self._scene_seq, now
                st = primitive.step(np.asarray(scene["obs"], dtype=np.float64))
                steps += 1
                if st.gripper_width is not None:
                    self._send_gripper(st.gripper_width)
                if st.joint_target is not None:
                    self._send_target(st.joint_target)
                feedback.progress, feedback.phase = float(st.progress), st.phase
                goal_handle.publish_feedback(feedback)
                if st.done:
                    rest = self._stop_arm()
                    final = self._fresh_scene() or scene
                    summary = {"message": st.message, "steps": steps, "duration_s": round(time.monotonic() - t0, 3),
                               "at_rest": rest, "objects": final.get("objects"), "scene_success": final.get("success")}
                    return (R.SUCCESS if st.success else R.FAILED), json_dumps(summary)

        # -------------------------------------------------------- commands
        def _send_target(self, q: np.ndarray) -> None:
            JointTrajectory, JointTrajectoryPoint, _, _ = self._msgs
            msg = JointTrajectory()
            msg.header.stamp = self.get_clock().now().to_msg()
            names = self._arm_joint_names()
            if names:
                msg.joint_names = names
            msg.points = [JointTrajectoryPoint(positions=[float(x) for x in q])]
            self.pub_cmd.publish(msg)

        def _send_gripper(self, width: float) -> None:
            _, _, Float64MultiArray, _ = self._msgs
            self.pub_grip.publish(Float64MultiArray(
                data=[float(width), float(self.p("gripper_speed_m_s")), float(self.p("gripper_force_n"))]))

        def _arm_joint_names(self) -> list[str]:
            return list(self._hal.get("joint_names") or [])

        def _arm_speeds(self, scene) -> np.ndarray | None:
            """|joint velocity| of the arm, rad/s, from a scene state (its ``joint_vel`` field)."""
            span = scene.get("layout", {}).get("joint_vel")
            if span is None:
                return None
            return np.abs(np.asarray(scene["obs"][span[0]:span[1]], dtype=np.float64))

        def _stop_arm(self) -> bool:
            """Send the stop (an empty trajectory: decelerate, hold) and wait until the arm is at rest (every
            joint slower than ``rest_velocity_rad_s`` in 3 consecutive scene states); True when it is (False:
            not within ``stop_timeout_s``)."""
            JointTrajectory, _, _, _ = self._msgs
            msg = JointTrajectory()
            msg.header.stamp = self.get_clock().now().to_msg()
            self.pub_cmd.publish(msg)
            end = time.monotonic() + float(self.p("stop_timeout_s"))
            tol = float(self.p("rest_velocity_rad_s"))
            calm = 0
            last_seen = None
            while time.monotonic() < end:
                scene = self._scene
                if scene is not None and scene is not last_seen:
                    last_seen = scene
                    v = self._arm_speeds(scene)
                    calm = calm + 1 if v is not None and np.all(v < tol) else 0
                    if calm >= 3:
                        return True
                time.sleep(0.01)
            return False

        def close(self) -> None:
            for kin in self._kin.values():
                kin.close()
            self._kin.clear()

    return SkillServerNode


def __getattr__(name: str):
    if name == "SkillServerNode":  # built on first use: importing this module imports no rclpy
        cls = _make_node_class()
        globals()["SkillServerNode"] = cls
        return cls
    raise AttributeError(name)


def main(args: list[str] | None = None) -> int:
    isolate_dds()
    from ._common import run_node

    return run_node(lambda: __getattr__("SkillServerNode")(), threads=3, args=args)


if __name__ == "__main__":
    sys.exit(main())
