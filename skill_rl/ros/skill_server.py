"""``skill_server``: runs skill-library entries on the arm: the ``execute_skill`` action (``skill_interfaces/ExecuteSkill``).

Run: ``python -m skill_rl.ros.skill_server --ros-args --params-file launch/sim.yaml`` (``library:=<folder>``).

Any entry of the skill library given at start-up (``library``; "" = the scripted primitives only) runs here
the way it runs in simulation: the entry is loaded (``SkillEntry.load``) into a kinematic copy of the world's
task env (``world``), posed every control step from perception (``/joint_states`` + ``/object_states``) by
:class:`~skill_rl.library.perception.KinematicScene`; the skill's ``ee_delta`` action goes through the same
controller as in simulation (the env's own damped-least-squares IK, :class:`~skill_rl.ros.kinematics.
KinematicModel`) to a joint position target (and a finger opening), sent to ``<arm>/joint_command`` as a
one-point ``JointTrajectory`` carrying the arm's command token (the server claims the arm, ``<arm>/claim``,
for the goal); ``arm_hal``'s SafetyFilter is on that path. Learned skills run closed-loop at ``rate_hz``
(the envs' 20 Hz control rate), one step per fresh perception.

Goal policy. Checked in the goal callback, before anything moves, and **rejected** with the reason in
``~/status`` (``SkillServerStatus.last_rejection``) and the log:

- a goal while another runs; the arm not ACTIVE; the skill not in the library (the known names are listed);
- parameters that are missing, unknown, of the wrong type, non-finite or outside the declared range (the
  catalog's check: the message names the parameter and the valid range) or outside the HAL's workspace;
- a timeout that is negative or NaN; perception missing or stale (an object pose older than
  ``perception_timeout_s``) for a skill that reads objects.

Once accepted, a goal ends with one of ``ExecuteSkill.Result``'s codes: ``SUCCESS`` (the skill is done and
its success check holds on the perceived state), ``FAILED`` (done or out of steps without success),
``TIMEOUT``, ``CANCELED`` (arm and fingers stopped first), ``FAULT`` (the arm latched one: the HAL
already holds), ``ARM_INACTIVE`` (deactivated under the goal), ``STALE_PERCEPTION`` (the object stream stopped
or fell behind during the goal: the skill never acts on old data). Every ending but FAULT sends the stop and
waits (``stop_timeout_s``) until the arm is at rest, then releases the claim. The result carries the final
perceived objects, the steps run, the duration and whether the arm was at rest.

Liveness: ``~/heartbeat`` (``std_msgs/Header`` at ``heartbeat_rate_hz``); ``arm_hal`` (``heartbeat_topic``)
brakes, holds and latches HEARTBEAT when it stops. ``~/status`` (``SkillServerStatus``, latched, on change).
"""

from __future__ import annotations

import math
import re
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from skill_rl.library.perception import PerceptionError

from ._common import (
    COMMANDS,
    LATCHED,
    STREAM,
    perceived_state,
    run_node,
    set_realtime_priority,
    stamp_s,
    threaded_execute,
    wait_future,
)
from .env import ensure_interfaces, isolate_dds
from .runner import SkillRunner

ensure_interfaces()
from skill_interfaces.action import ExecuteSkill  # noqa: E402
from skill_interfaces.msg import ArmState, ObjectState, ObjectStates, SkillServerStatus  # noqa: E402
from skill_interfaces.srv import ClaimArm  # noqa: E402

__all__ = ["PARAMS", "SkillServerNode", "goal_params", "main", "parse_skill_name"]

R = ExecuteSkill.Result

PARAMS: dict[str, Any] = {
    "arm": "/arm_hal",
    "action_name": "execute_skill",
    "library": "",  # skill library folder; "": a temporary library of the scripted primitives
    "world": "TabletopPickPlace-v0",  # the task env of the arm's scene: its kinematic copy and object names
    "joint_states_topic": "/joint_states",
    "object_states_topic": "/object_states",
    "perception_timeout_s": 0.5,  # object poses older than this are stale: refuse / abort, never act on them
    "rate_hz": 20.0,  # control steps per second (the tabletop envs' rate)
    "gripper_force_n": 20.0,
    "stop_timeout_s": 3.0,
    "rest_velocity_rad_s": 0.05,
    "heartbeat_rate_hz": 10.0,  # std_msgs/Header on ~/heartbeat while this process lives (arm_hal watches it)
    "rt_priority": 0,  # > 0: SCHED_FIFO at this priority for every thread of the process (needs CAP_SYS_NICE)
    "inject_drops": 0,  # fault injection (tests, demos): the next N goals that carry something let go mid-carry
}


def parse_skill_name(text: str) -> tuple[str, int | None]:
    """``"pick_place"`` -> (name, None: the newest version); ``"pick_place@2"`` / ``"pick_place@v2"`` -> (name, 2)."""
    m = re.fullmatch(r"\s*([^@\s]+)\s*(?:@\s*v?(\d+))?\s*", text or "")
    if not m:
        raise ValueError(f"a skill is 'name' or 'name@version', got {text!r}")
    return m.group(1), int(m.group(2)) if m.group(2) else None


def goal_params(entry: Any, params: Any) -> dict[str, Any]:
    """``SkillParam[]`` as the entry's call parameters: texts stay names, numbers become a float for a declared
    ``number`` parameter and a list otherwise (``ValueError`` for a name given twice or text and numbers both)."""
    from .description import params_from_msgs

    out = params_from_msgs(params)
    numbers = {p.name for p in entry.param_specs() if p.kind == "number"}
    return {k: (v[0] if k in numbers and isinstance(v, list) and len(v) == 1 else v) for k, v in out.items()}


class _Rejected(Exception):
    """A goal that cannot start: the code and the reason."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code


class SkillServerNode(Node):
    """See the module docstring."""

    def __init__(self, node_name: str = "skill_server", **kwargs: Any):
        super().__init__(node_name, **kwargs)
        for name, default in PARAMS.items():
            self.declare_parameter(name, default)
        self.exit_code = 0
        self.arm = str(self.p("arm")).rstrip("/")
        self._lock = threading.RLock()  # (the goal callback rejects, and publishes its status, under it)
        self._busy = False
        self._skill = ""
        self._last_rejection = ""
        self._hal: ArmState | None = None
        self._joints: JointState | None = None
        self._joints_t = 0.0
        self._objects: ObjectStates | None = None
        self._objects_t = 0.0  # monotonic receipt time
        self._objects_seq = 0
        self._token = ""
        self._status_key: tuple = ()
        self.library, self.library_root = self._open_library(str(self.p("library")))
        self.world = str(self.p("world"))
        self._drops_left = int(self.p("inject_drops"))
        self.add_on_set_parameters_callback(self._on_params)
        self.runner = SkillRunner(self.world)  # perception -> the skill's action -> IK -> joint target (no ROS)
        self._preload()
        # One executor thread serves every callback; goals run in threads of their own (_common.threaded_execute).
        io = ReentrantCallbackGroup()
        self.pub_cmd = self.create_publisher(JointTrajectory, f"{self.arm}/joint_command", COMMANDS)
        self.pub_status = self.create_publisher(SkillServerStatus, "~/status", LATCHED)
        self.pub_heartbeat = self.create_publisher(Header, "~/heartbeat", COMMANDS)
        if float(self.p("heartbeat_rate_hz")) > 0:
            self.create_timer(1.0 / float(self.p("heartbeat_rate_hz")), self._beat,
                              callback_group=MutuallyExclusiveCallbackGroup())
        self.create_subscription(ArmState, f"{self.arm}/state", self._on_hal_state, LATCHED, callback_group=io)
        self.create_subscription(JointState, self.p("joint_states_topic"), self._on_joints, STREAM, callback_group=io)
        self.create_subscription(ObjectStates, self.p("object_states_topic"), self._on_objects, STREAM, callback_group=io)
        self.claim_client = self.create_client(ClaimArm, f"{self.arm}/claim", callback_group=ReentrantCallbackGroup())
        self._server = ActionServer(
            self, ExecuteSkill, self.p("action_name"), execute_callback=threaded_execute(self._execute),
            goal_callback=self._on_goal, cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup())
        self._publish_status(force=True)
        self.create_timer(1.0, lambda: self._publish_status(force=True), callback_group=io)
        if int(self.p("rt_priority")) > 0:
            set_realtime_priority(int(self.p("rt_priority")), self.get_logger())
        self.get_logger().info(f"skill server on {self.resolve_topic_name(self.p('action_name'))}, arm {self.arm}, "
                               f"world {self.world}, library {self.library_root} ({', '.join(self._skill_keys())})")

    def p(self, name: str) -> Any:
        return self.get_parameter(name).value

    def _on_params(self, params: list[Any]) -> Any:
        from rcl_interfaces.msg import SetParametersResult

        for param in params:
            if param.name == "inject_drops":
                self._drops_left = int(param.value)
        return SetParametersResult(successful=True)

    # -------------------------------------------------------- library
    @staticmethod
    def _open_library(root: str) -> tuple[Any, str]:
        from skill_rl.library import SkillLibrary, add_scripted_primitives

        if not root:
            lib = SkillLibrary(tempfile.mkdtemp(prefix="skill_server_scripted_"))
            add_scripted_primitives(lib)
            return lib, str(lib.root)
        lib = SkillLibrary(root)
        if not lib.root.is_dir():
            raise SystemExit(f"skill_server: the skill library {root} does not exist (create it with "
                             f"`skill-rl skills add-scripted --library {root}`)")
        return lib, str(lib.root)

    def _preload(self) -> None:
        """Load every learned entry once, now, before the node spins: importing torch and a TorchScript policy
        takes seconds and holds the GIL, which inside a goal would stall this node's heartbeat (arm_hal then
        latches HEARTBEAT) and delay the first step. A file that cannot be loaded is an error here, at start-up,
        naming the entry, not a surprise in a goal."""
        learned = [e for e in self.library.list() if e.kind != "scripted"]
        if learned:
            t0 = time.monotonic()
            import torch  # noqa: F401 - the import itself is the slow part

            self.get_logger().info(f"torch imported in {time.monotonic() - t0:.1f} s for {len(learned)} learned skill(s)")
        for entry in learned:
            t0 = time.monotonic()
            _, bound = entry.implements or (None, {})
            try:
                entry.load(self.runner.scene.env, **dict(bound or {}))
            except Exception as e:  # noqa: BLE001 - name the entry, keep the others usable
                self.get_logger().warning(f"{entry.key} did not load at start-up ({e}); goals naming it load it then")
                continue
            self.get_logger().info(f"loaded {entry.key} ({entry.kind}) in {time.monotonic() - t0:.1f} s")

    def _skill_keys(self) -> list[str]:
        return [e.key for e in self.library.list()]

    # -------------------------------------------------------- inputs
    def _beat(self) -> None:
        now = time.monotonic()
        last, self._last_beat = getattr(self, "_last_beat", None), now
        if last is not None and now - last > 0.5:  # this process stalled: say so, the arm's watchdog will
            self.get_logger().warning(f"heartbeat {now - last:.2f} s after the previous one (this process stalled)")
        msg = Header(frame_id=self.get_fully_qualified_name())
        msg.stamp = self.get_clock().now().to_msg()
        self.pub_heartbeat.publish(msg)

    def _on_hal_state(self, msg: ArmState) -> None:
        self._hal = msg
        self._publish_status()

    def _on_joints(self, msg: JointState) -> None:
        self._joints, self._joints_t = msg, time.monotonic()

    def _on_objects(self, msg: ObjectStates) -> None:
        with self._lock:  # (callbacks may run concurrently: the group is reentrant)
            self._objects, self._objects_t = msg, time.monotonic()
            self._objects_seq += 1

    def _publish_status(self, force: bool = False) -> None:
        hal = self._hal
        key = (self._busy, self._skill, hal.state if hal else "", hal.fault if hal else "", self._last_rejection)
        with self._lock:
            if key == self._status_key and not force:
                return
            self._status_key = key
        msg = SkillServerStatus(busy=self._busy, skill=self._skill if self._busy else "",
                                arm_state=hal.state if hal else "", arm_fault=hal.fault if hal else "",
                                library=self.library_root, skills=self._skill_keys(),
                                last_rejection=self._last_rejection)
        msg.header.stamp = self.get_clock().now().to_msg()
        self.pub_status.publish(msg)

    # -------------------------------------------------------- perception
    def _perception_age(self) -> float | None:
        """Seconds since the newest object states were measured (their stamp, ROS time), None: none yet."""
        if self._objects is None:
            return None
        return self.get_clock().now().nanoseconds * 1e-9 - stamp_s(self._objects.header.stamp)

    def _perceive(self) -> Any:
        """The perceived state now (a ``PerceivedState``; raises ``_Rejected`` when perception is missing or
        stale)."""
        joints, objects = self._joints, self._objects
        if joints is None:
            raise _Rejected(R.STALE_PERCEPTION, f"no joint states on {self.p('joint_states_topic')} yet")
        age = self._perception_age()
        limit = float(self.p("perception_timeout_s"))
        if objects is None or age is None:
            raise _Rejected(R.STALE_PERCEPTION, f"no object poses on {self.p('object_states_topic')} yet")
        if age > limit:
            raise _Rejected(R.STALE_PERCEPTION, f"the object poses are {age:.2f} s old (limit {limit:g} s): "
                                                f"perception stopped or fell behind; not acting on old data")
        names = list(self._hal.joint_names) if self._hal is not None and self._hal.joint_names else None
        return perceived_state(joints, objects, names)

    # -------------------------------------------------------- goal policy
    def _reject(self, goal, why: str) -> Any:
        self._last_rejection = f"{goal.skill or '(no skill)'}: {why}"
        self.get_logger().warning(f"rejected goal {self._last_rejection}")
        self._publish_status()
        return GoalResponse.REJECT

    def _resolve(self, goal) -> tuple[Any, dict[str, Any]]:
        """The library entry and validated parameters of a goal, or ``_Rejected`` with the reason."""
        from skill_rl.library import LibraryError, UnknownSkillError

        try:
            name, version = parse_skill_name(goal.skill)
            entry = self.library.get(name, version)
        except (ValueError, UnknownSkillError) as e:
            raise _Rejected(R.UNKNOWN_SKILL, str(e)) from None
        try:
            params = goal_params(entry, goal.params)
        except ValueError as e:
            raise _Rejected(R.BAD_PARAMS, str(e)) from None
        if not math.isfinite(goal.timeout) or goal.timeout < 0:
            raise _Rejected(R.BAD_PARAMS, f"timeout must be >= 0 s (0: the skill's default), got {goal.timeout}")
        try:
            entry.check(self.runner.scene.env, **params)
        except LibraryError as e:  # BadParamsError, SpecMismatchError: the message names the parameter and range
            raise _Rejected(R.BAD_PARAMS, str(e)) from None
        self._check_workspace(entry, params)
        return entry, params

    def _check_workspace(self, entry: Any, params: dict[str, Any]) -> None:
        """Point parameters (vectors in m, world frame) must also lie in the HAL's workspace box (the robot
        description's, in the base frame): the catalog's bounds are the table's, the arm reaches less."""
        low, high = self.runner.kin.workspace_world
        points = {p.name for p in entry.param_specs() if p.kind == "vector" and p.unit == "m" and p.frame == "world"}
        for key, value in params.items():
            if key in points and isinstance(value, list) and len(value) in (2, 3):
                v = np.asarray(value, dtype=np.float64)
                lo, hi = low[: len(v)], high[: len(v)]
                if np.any(v < lo) or np.any(v > hi):
                    box = ", ".join(f"{a} in [{x:.3f}, {y:.3f}]" for a, x, y in zip("xyz", lo, hi, strict=False))
                    raise _Rejected(R.BAD_PARAMS, f"{key}={v.tolist()} m is outside the arm's workspace ({box} m, "
                                                  f"world frame, from the robot description)")

    def _on_goal(self, goal) -> Any:
        with self._lock:
            busy = self._busy
        if busy:
            return self._reject(goal, "busy with another goal")
        hal = self._hal
        if hal is None or hal.state != ArmState.ACTIVE:
            state = hal.state if hal is not None else "not seen yet"
            return self._reject(goal, f"the arm is {state}" + (f" ({hal.fault})" if hal is not None and hal.fault else ""))
        try:
            self._resolve(goal)
            self.runner.perceive(self._perceive())
        except _Rejected as e:
            return self._reject(goal, str(e))
        except PerceptionError as e:  # an object of the world is missing from perception, or a bad pose
            return self._reject(goal, str(e))
        with self._lock:
            if self._busy:
                return self._reject(goal, "busy with another goal")
            self._busy, self._skill = True, goal.skill
        self._publish_status()
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle) -> Any:
        t0 = time.monotonic()
        steps = 0
        try:
            code, message, steps = self._run(goal_handle, t0)
        except _Rejected as e:
            code, message, steps = e.code, str(e), self.runner.steps
        except PerceptionError as e:
            code, message, steps = R.STALE_PERCEPTION, f"perception: {e}", self.runner.steps
        except Exception as e:  # noqa: BLE001 - a bug must not leave the goal hanging or the arm owned
            self.get_logger().error(f"goal failed with an exception: {type(e).__name__}: {e}")
            code, message = R.FAILED, f"internal error: {type(e).__name__}: {e}"
        at_rest = False
        if code != R.FAULT:
            at_rest = self._stop_arm()
        self._release()
        with self._lock:
            self._busy = False
        self._publish_status()
        result = R(error_code=code, message=message, steps=steps, duration_s=time.monotonic() - t0, at_rest=at_rest)
        if self._objects is not None:
            result.objects = [ObjectState(name=o.name, kind=o.kind, pose=o.pose, opening=o.opening)
                              for o in self._objects.objects]
        if code == R.SUCCESS:
            goal_handle.succeed()
        elif code == R.CANCELED:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        name = {v: k for k, v in vars(R).items() if k.isupper() and isinstance(v, int)}.get(code, str(code))
        text = f"goal {goal_handle.request.skill!r}: {name} after {steps} steps: {message[:300]}"
        if code == R.SUCCESS:  # (rclpy: one severity per logging call site)
            self.get_logger().info(text)
        else:
            self.get_logger().warning(text)
        return result

    def _arm_problem(self) -> tuple[int, str] | None:
        hal = self._hal
        if hal is None or hal.state == ArmState.ACTIVE:
            return None
        if hal.state == ArmState.FAULT:
            return R.FAULT, f"the arm latched a fault: {hal.fault}"
        return R.ARM_INACTIVE, f"the arm left ACTIVE: it is {hal.state} (lifecycle {hal.lifecycle}), no fault"

    def _run(self, goal_handle, t0: float) -> tuple[int, str, int]:
        goal = goal_handle.request
        entry, params = self._resolve(goal)
        self._claim()
        skill = self.runner.start(entry, params, self._perceive())
        if self._drops_left > 0 and hasattr(skill, "phase"):  # fault injection: let go after 0.4 s of carrying
            from skill_rl.planning.execute import DropObject

            self._drops_left -= 1
            carried = max(2, round(0.4 * float(self.p("rate_hz"))))  # 8 steps at the envs' 20 Hz
            skill = self.runner.skill = DropObject(skill, after_steps=carried)
            self.get_logger().warning(f"fault injection: {goal.skill} will drop what it carries")
        period = 1.0 / float(self.p("rate_hz"))
        timeout = goal.timeout if goal.timeout > 0 else max(30.0, 2.0 * skill.horizon * period)
        feedback = ExecuteSkill.Feedback()
        last_seq, last_stamp = self._objects_seq, -1.0
        while True:
            steps = self.runner.steps
            if goal_handle.is_cancel_requested:
                return R.CANCELED, f"canceled after {steps} steps", steps
            problem = self._arm_problem()
            if problem is not None:
                return problem[0], problem[1], steps
            now = time.monotonic()
            if now - t0 > timeout:
                return R.TIMEOUT, f"timed out after {timeout:g} s ({steps} of at most {skill.horizon} steps)", steps
            # One step per fresh perception, at most rate_hz: on a loaded machine the skill slows down
            # instead of acting on the same (old) observation twice. The rate is measured on the perceptions'
            # stamps, not on when this loop saw them: with the wall clock, a message handled late made the
            # next, on-time one look too early, and every other one was skipped (13 Hz instead of 20).
            objects = self._objects
            stamp = stamp_s(objects.header.stamp) if objects is not None else -1.0
            if self._objects_seq == last_seq or stamp - last_stamp < 0.9 * period:
                age = self._perception_age()
                if age is not None and age > float(self.p("perception_timeout_s")):
                    self._perceive()  # raises STALE_PERCEPTION with the reason
                time.sleep(0.002)
                continue
            last_seq, last_stamp = self._objects_seq, stamp
            command = self.runner.step(self._perceive())
            if command is None:
                break
            self._send(command.joints, command.width)
            feedback.steps = self.runner.steps
            feedback.progress = float(min(1.0, self.runner.steps / max(skill.horizon, 1)))
            feedback.phase = self.runner.phase
            goal_handle.publish_feedback(feedback)
        steps = self.runner.steps
        self._stop_arm()
        verdict = self.runner.verdict(self._perceive())
        what = "done" if steps < skill.horizon else f"out of steps ({skill.horizon})"
        if verdict is None:  # the skill cannot tell: it ran to its end, which is all it promises
            return R.SUCCESS, f"{what} after {steps} steps (this skill has no success check)", steps
        if verdict:
            return R.SUCCESS, f"{what} after {steps} steps; its success check holds on the perceived state", steps
        return R.FAILED, f"{what} after {steps} steps, but its success check does not hold on the perceived state", steps

    # -------------------------------------------------------- arm commands
    def _claim(self, release: bool = False) -> None:
        if not self.claim_client.wait_for_service(timeout_sec=5.0):
            raise _Rejected(R.REJECTED, f"no {self.arm}/claim service")
        fut = self.claim_client.call_async(ClaimArm.Request(owner=self.get_fully_qualified_name(), release=release))
        if not wait_future(fut, 5.0) or fut.result() is None:
            raise _Rejected(R.REJECTED, f"no answer from {self.arm}/claim")
        res = fut.result()
        if not res.success:
            raise _Rejected(R.REJECTED, f"could not {'release' if release else 'claim'} the arm: {res.message}")
        self._token = "" if release else res.token

    def _release(self) -> None:
        """Give the arm back; retried, because an unanswered release (a loaded machine) would leave the arm
        owned by this server and refuse every other client's commands."""
        for attempt in range(3):
            if not self._token:
                return
            try:
                self._claim(release=True)
            except _Rejected as e:
                self.get_logger().warning(f"{e} (release attempt {attempt + 1} of 3)")
        self._token = ""

    def _send(self, q: np.ndarray, width: float) -> None:
        """One command: the arm's joint target plus the gripper joint (each finger's opening, m; effort = N)."""
        hal = self._hal
        names = list(hal.joint_names) if hal is not None else []
        msg = JointTrajectory()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self._token
        point = JointTrajectoryPoint(positions=[float(x) for x in q])
        if names:
            msg.joint_names = names + [f"{hal.robot}_finger_joint1"]
            point.positions = [*point.positions, float(width) / 2.0]
            point.effort = [0.0] * len(names) + [float(self.p("gripper_force_n"))]
        msg.points = [point]
        self.pub_cmd.publish(msg)

    def _stop_arm(self) -> bool:
        """Send the stop (an empty trajectory: arm_hal decelerates and holds, the fingers stop where they are)
        and wait until every arm joint is slower than ``rest_velocity_rad_s`` in 3 consecutive joint states;
        True when it is (False: not within ``stop_timeout_s``)."""
        msg = JointTrajectory()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self._token
        self.pub_cmd.publish(msg)
        end = time.monotonic() + float(self.p("stop_timeout_s"))
        tol = float(self.p("rest_velocity_rad_s"))
        calm, last = 0, None
        names = set(self._hal.joint_names) if self._hal is not None else set()
        while time.monotonic() < end:
            js = self._joints
            if js is not None and js is not last:
                last = js
                v = [abs(x) for n, x in zip(js.name, js.velocity, strict=False) if n in names or not names]
                calm = calm + 1 if v and max(v) < tol else 0
                if calm >= 3:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.runner.close()


def main(args: list[str] | None = None) -> int:
    isolate_dds()
    return run_node(lambda: SkillServerNode(), threads=1, args=args)


if __name__ == "__main__":
    sys.exit(main())
