"""Test helpers for the ROS 2 graph: ``RosProbe``, an rclpy node in its own context and executor thread
that watches the graph's topics and talks to its actions and services (tests, debugging scripts).

Call ``skill_rl.ros.env.isolate_dds(domain_id)`` before creating a probe (the tests do).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .env import ensure_interfaces

__all__ = ["DomainLease", "FakeDriver", "GoalRun", "NodeSpinner", "RosProbe", "wait_until"]


class DomainLease:
    """A ``ROS_DOMAIN_ID`` that no other process on this machine holds through a ``DomainLease``.

    Why: DDS state outlives a test. A graph started in a domain that another graph (a concurrent test run,
    an earlier module's nodes still shutting down, a launcher's orphans) also uses meets that graph's
    ``/arm_hal`` and ``/skill_server``: the HAL hears a heartbeat that later stops (HEARTBEAT fault) and
    probes see two arms or none. ``test_domain_id()`` (pid modulo 101) collides between processes and is the
    same for every module of one pytest process. A lease takes an exclusive ``flock`` on
    ``<tmp>/skill_rl_ros_domains/<id>.lock`` (released by the kernel if the process dies), trying ids from
    a pid-dependent start so that concurrent runs rarely probe the same ones.

    As a context manager it also sets ``ROS_DOMAIN_ID`` (and LOCALHOST discovery) in ``os.environ`` for its
    duration: in-process rclpy contexts (probes, the ros2 HAL backend) and child processes then use it.
    """

    FIRST, LAST = 1, 101  # ports 7400 + 250 * id stay below Linux's ephemeral range (32768+)

    def __init__(self) -> None:
        import fcntl
        import tempfile

        folder = os.path.join(tempfile.gettempdir(), "skill_rl_ros_domains")
        os.makedirs(folder, exist_ok=True)
        span = self.LAST - self.FIRST + 1
        start = os.getpid() % span
        self._fd: int | None = None
        for k in range(span):
            domain = self.FIRST + (start + k) % span
            fd = os.open(os.path.join(folder, f"{domain}.lock"), os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.domain_id, self._fd = domain, fd
            break
        else:
            raise RuntimeError(f"every ROS domain id {self.FIRST}..{self.LAST} is leased by another process")
        self._saved: dict[str, str | None] = {}

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self) -> DomainLease:
        from .env import isolate_dds

        self._saved = {k: os.environ.get(k) for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        isolate_dds(self.domain_id)
        return self

    def __exit__(self, *exc: Any) -> None:
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self.release()


def wait_until(pred: Callable[[], Any], timeout: float, poll: float = 0.02, what: str = "condition") -> Any:
    """Poll ``pred`` until it returns something truthy (returned) or ``timeout`` s pass (AssertionError)."""
    end = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


class NodeSpinner:
    """Spins one node's executor in a daemon thread until ``close``. The thread stops (a stop flag checked
    between short ``spin_once`` calls) *before* the node is destroyed: destroying a node or shutting an
    executor down while another thread is inside ``spin`` is not thread-safe in rclpy (ros2/rclpy#260,
    #663) and was seen to hang these helpers' teardown now and then."""

    def __init__(self, executor: Any, node: Any, context: Any):
        self.executor, self.node, self.context = executor, node, context
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            while not self._stop.is_set() and self.context.ok():
                self.executor.spin_once(timeout_sec=0.05)
        except Exception:  # noqa: BLE001 - context shut down under us
            pass

    def stop(self) -> None:
        """Stop spinning (bounded wait); the node can then be torn down safely from this thread.

        The executor is woken (its guard condition) so that a ``spin_once`` blocked in the wait set returns and
        sees the flag: once the graph's nodes had exited nothing else woke it, the join timed out, and
        ``destroy_node`` then blocked for good on a handle the wait still held (a CI rehearsal hung 16 min in
        ``tests/test_ros_backend_action.py``'s probe teardown)."""
        self._stop.set()
        for _ in range(20):  # up to ~10 s
            self.executor.wake()
            self._thread.join(0.5)
            if not self._thread.is_alive():
                return

    def close(self) -> None:
        import rclpy

        self.stop()
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@dataclass
class GoalRun:
    """One action goal: ``accepted`` (None until answered), feedback received, and the result."""

    accepted: bool | None = None
    feedback: list[Any] = field(default_factory=list)
    status: int | None = None
    result: Any = None
    handle: Any = None
    done: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)

    def wait_answer(self, timeout: float = 30.0) -> bool:
        if not self.answered.wait(timeout):
            raise AssertionError(f"no accept/reject answer within {timeout:g} s")
        return bool(self.accepted)

    def wait_result(self, timeout: float = 120.0) -> GoalRun:
        if not self.done.wait(timeout):
            raise AssertionError(f"no result within {timeout:g} s (feedback so far: {len(self.feedback)})")
        return self

    @property
    def phases(self) -> list[str]:
        out: list[str] = []
        for fb in self.feedback:
            phase = getattr(fb, "phase", "")
            if not out or out[-1] != phase:
                out.append(phase)
        return out


def _text_or_none(value: str) -> str | None:
    return value or None


def arm_state_dict(msg: Any) -> dict[str, Any]:
    """``skill_interfaces/ArmState`` as a dict (empty fault fields as None), for tests and scripts."""
    return {"state": msg.state, "lifecycle": msg.lifecycle, "fault": _text_or_none(msg.fault),
            "fault_code": _text_or_none(msg.fault_code), "motion": msg.motion, "owner": msg.owner, "robot": msg.robot,
            "backend": msg.backend, "joint_names": list(msg.joint_names)}


def object_states_dict(msg: Any) -> dict[str, Any]:
    """``skill_interfaces/ObjectStates`` as ``{"stamp": s, "source": str, "objects": {name: {kind, pos, quat_xyzw,
    opening}}}``."""
    objects = {}
    for o in msg.objects:
        p, q = o.pose.position, o.pose.orientation
        objects[o.name] = {"kind": o.kind, "pos": [p.x, p.y, p.z], "quat_xyzw": [q.x, q.y, q.z, q.w], "opening": o.opening}
    return {"stamp": msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec, "source": msg.source, "objects": objects}


class RosProbe:
    """Watches ``/joint_states``, ``<arm>/state``, ``/object_states``, ``/skill_server/status``, ``/diagnostics``;
    sends goals to ``execute_skill`` / ``run_task`` and the gripper action; calls the arm's services (Trigger ones,
    ``claim``, ``reset_world``); publishes raw commands (with a claimed token when it holds the arm)."""

    def __init__(self, arm: str = "/arm_hal", name: str = "skill_rl_probe"):
        ensure_interfaces()
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.action import ActionClient
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile
        from sensor_msgs.msg import JointState
        from skill_interfaces.action import ExecuteSkill, GripperCommand, RunTask
        from skill_interfaces.msg import ArmState, ObjectStates, SkillServerStatus
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory

        from ._common import LATCHED, STREAM

        self.ExecuteSkill, self.RunTask, self.Trigger = ExecuteSkill, RunTask, Trigger
        self.token = ""  # the arm's command token while this probe owns it (claim())
        self.arm = arm.rstrip("/")
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = rclpy.create_node(name, context=self.context)
        self._lock = threading.Lock()
        self.joint_states: list[Any] = []  # (monotonic receipt time, msg), the newest last (bounded)
        self.arm_state: dict[str, Any] = {}
        self.objects: dict[str, Any] | None = None  # object_states_dict of the newest /object_states
        self.diagnostics: list[Any] = []
        n = self.node
        n.create_subscription(JointState, "/joint_states", self._on_js, STREAM)
        n.create_subscription(ArmState, f"{self.arm}/state", lambda m: self._set("arm_state", arm_state_dict(m)), LATCHED)
        n.create_subscription(ObjectStates, "/object_states", lambda m: self._set("objects", object_states_dict(m)), STREAM)
        self.server_status: dict[str, Any] = {}
        n.create_subscription(SkillServerStatus, "/skill_server/status", self._on_status, LATCHED)
        n.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, STREAM)
        deep = QoSProfile(depth=200)  # keep every feedback message even if this process stalls
        self.skill_client = ActionClient(n, ExecuteSkill, "/execute_skill", feedback_sub_qos_profile=deep)
        self.task_client = ActionClient(n, RunTask, "/run_task", feedback_sub_qos_profile=deep)
        self.gripper_client = ActionClient(n, GripperCommand, f"{self.arm}/gripper_cmd", feedback_sub_qos_profile=deep)
        self.GripperCommand = GripperCommand
        self.cmd_pub = n.create_publisher(JointTrajectory, f"{self.arm}/joint_command", 10)
        self._services: dict[str, Any] = {}
        self._heartbeat_pubs: dict[str, Any] = {}
        # Single-threaded: every callback here is short, and rclpy's ActionClient under a multi-threaded
        # executor was seen to deliver feedback late (after the result, when it is discarded).
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(n)
        self._spinner = NodeSpinner(self.executor, n, self.context)

    def _set(self, attr: str, value: Any) -> None:
        with self._lock:
            setattr(self, attr, value)

    def _on_status(self, msg) -> None:
        status = {"busy": msg.busy, "skill": msg.skill, "arm_state": msg.arm_state or "UNKNOWN",
                  "arm_fault": _text_or_none(msg.arm_fault), "library": msg.library, "skills": list(msg.skills),
                  "last_rejection": msg.last_rejection, "stamp": msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec,
                  "frame_id": msg.header.frame_id}
        self._set("server_status", status)

    def _on_js(self, msg) -> None:
        with self._lock:
            self.joint_states.append((time.monotonic(), msg))
            del self.joint_states[:-2000]

    def _on_diag(self, msg) -> None:
        with self._lock:
            self.diagnostics.append(msg)
            del self.diagnostics[:-200]

    def close(self) -> None:
        self._spinner.close()

    # ------------------------------------------------------------ observations
    def arm_velocity(self) -> float | None:
        """max |joint velocity| of the arm joints (rad/s) in the newest JointState."""
        with self._lock:
            if not self.joint_states:
                return None
            msg = self.joint_states[-1][1]
        names = self.arm_state.get("joint_names") or [n for n in msg.name if "finger" not in n]
        idx = [msg.name.index(n) for n in names if n in msg.name]
        return float(np.max(np.abs([msg.velocity[i] for i in idx])))

    def arm_position(self) -> np.ndarray:
        with self._lock:
            msg = self.joint_states[-1][1]
        names = self.arm_state.get("joint_names") or [n for n in msg.name if "finger" not in n]
        return np.array([msg.position[msg.name.index(n)] for n in names])

    def listen(self, msg_type: Any, topic: str, latched: bool = False, keep: int = 100) -> list[Any]:
        """Subscribe to any topic; returns the list its messages are appended to (the newest ``keep``)."""
        from ._common import LATCHED, STREAM

        got: list[Any] = []

        def on_msg(msg: Any) -> None:
            with self._lock:
                got.append(msg)
                del got[:-keep]

        self.node.create_subscription(msg_type, topic, on_msg, LATCHED if latched else STREAM)
        return got

    def gripper_width(self) -> float:
        """Opening between the fingers (m): the sum of the finger joints in the newest JointState."""
        with self._lock:
            msg = self.joint_states[-1][1]
        return float(sum(p for n, p in zip(msg.name, msg.position, strict=True) if "finger" in n))

    def joint_states_since(self, t: float) -> list[Any]:
        with self._lock:
            return [m for (r, m) in self.joint_states if r >= t]

    def latest_diagnostic_values(self) -> dict[str, str]:
        with self._lock:
            if not self.diagnostics:
                return {}
            status = self.diagnostics[-1].status[0]
        return {kv.key: kv.value for kv in status.values} | {"_level": str(status.level[0]), "_message": status.message}

    def wait_heartbeat_armed(self, timeout: float = 30.0) -> dict[str, str]:
        """Until arm_hal's ``/diagnostics`` says its executor heartbeat watch is armed (a heartbeat has reached it):
        before that, killing the executor is not noticed by design (the watch arms at the first beat), and DDS can
        take seconds to match the heartbeat's publisher to arm_hal on a loaded machine (a CI rehearsal killed the
        skill server before that and waited 30 s for a HEARTBEAT fault)."""
        def armed() -> dict[str, str] | None:
            with self._lock:
                msgs = list(self.diagnostics)
            for msg in reversed(msgs):
                for status in msg.status:
                    values = {kv.key: kv.value for kv in status.values}
                    if "heartbeat" in values:
                        return values if values["heartbeat"] == "armed" else None
            return None
        return wait_until(armed, timeout, what="arm_hal's heartbeat watch to be armed (/diagnostics 'heartbeat')")

    def wait_arm_state(self, state: str, timeout: float = 30.0) -> dict[str, Any]:
        return wait_until(lambda: self.arm_state if self.arm_state.get("state") == state else None, timeout,
                          what=f"arm state {state} (now {self.arm_state})")

    def wait_server_sees(self, state: str, timeout: float = 30.0) -> dict[str, Any]:
        """Until the skill server's ``~/status`` reports the arm in ``state`` and itself idle."""
        return wait_until(lambda: self.server_status if self.server_status.get("arm_state") == state
                          and not self.server_status.get("busy") else None, timeout,
                          what=f"the skill server to see the arm {state} (status {self.server_status})")

    def wait_at_rest(self, tol: float = 0.02, cycles: int = 10, timeout: float = 15.0) -> None:
        """Every arm joint slower than ``tol`` rad/s in ``cycles`` consecutive new JointStates."""
        t0 = time.monotonic()

        def calm():
            msgs = self.joint_states_since(t0)
            if len(msgs) < cycles:
                return False
            tail = msgs[-cycles:]
            names = self.arm_state.get("joint_names") or [n for n in tail[0].name if "finger" not in n]
            for m in tail:
                idx = [m.name.index(n) for n in names]
                if max(abs(m.velocity[i]) for i in idx) >= tol:
                    return False
            return True

        wait_until(calm, timeout, what=f"the arm at rest (|v| < {tol} rad/s), now {self.arm_velocity()}")

    # ------------------------------------------------------------ actions
    def _send(self, client, goal, server_timeout: float) -> GoalRun:
        if not client.wait_for_server(timeout_sec=server_timeout):
            raise AssertionError(f"action server not available within {server_timeout:g} s")
        run = GoalRun()

        def on_feedback(msg):
            run.feedback.append(msg.feedback)

        def on_result(future):
            wrapped = future.result()
            run.status, run.result = wrapped.status, wrapped.result
            run.done.set()

        def on_goal(future):
            handle = future.result()
            run.handle, run.accepted = handle, bool(handle.accepted)
            run.answered.set()
            if handle.accepted:
                handle.get_result_async().add_done_callback(on_result)
            else:
                run.done.set()

        client.send_goal_async(goal, feedback_callback=on_feedback).add_done_callback(on_goal)
        return run

    def execute(self, skill: str, params: Any = None, timeout: float = 0.0, server_timeout: float = 30.0) -> GoalRun:
        """An ExecuteSkill goal; ``params`` a ``{name: value}`` mapping (``skill_rl.ros.description.skill_param_msgs``)."""
        from .description import skill_param_msgs

        return self._send(self.skill_client, self.ExecuteSkill.Goal(skill=skill, params=skill_param_msgs(params or {}),
                                                                    timeout=float(timeout)), server_timeout)

    def run_task(self, steps: Any = "", *, task: str = "", task_file: str = "", server_timeout: float = 30.0) -> GoalRun:
        """A RunTask goal: task-language ``task`` text, a ``task_file`` path, or a fixed ``steps`` list."""
        steps = steps if isinstance(steps, str) else json.dumps(steps)
        return self._send(self.task_client, self.RunTask.Goal(task=task, task_file=task_file, steps=steps),
                          server_timeout)

    def grip(self, position_m: float, max_effort_n: float = 0.0, server_timeout: float = 30.0) -> GoalRun:
        """A goal of the arm's gripper action (control_msgs' GripperCommand)."""
        goal = self.GripperCommand.Goal()
        goal.command.position, goal.command.max_effort = float(position_m), float(max_effort_n)
        return self._send(self.gripper_client, goal, server_timeout)

    def cancel(self, run: GoalRun, timeout: float = 10.0) -> None:
        from ._common import wait_future

        assert run.handle is not None and run.accepted, "only an accepted goal can be canceled"
        fut = run.handle.cancel_goal_async()
        if not wait_future(fut, timeout):
            raise AssertionError("no answer to the cancel request")

    # ------------------------------------------------------------ services and raw commands
    def call(self, service: str, timeout: float = 10.0, srv_type: Any = None, request: Any = None) -> Any:
        """Call a service of the arm: a std_srvs/Trigger one (``estop``, ``reset_fault``, ``stop``) by default,
        else ``srv_type`` with ``request``."""
        from ._common import wait_future

        srv_type = srv_type or self.Trigger
        name = service if service.startswith("/") else f"{self.arm}/{service}"
        client = self._services.get(name)
        if client is None:
            client = self._services[name] = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise AssertionError(f"service {name} not available")
        fut = client.call_async(request if request is not None else srv_type.Request())
        if not wait_future(fut, timeout):
            raise AssertionError(f"no answer from {name}")
        return fut.result()

    def claim(self, owner: str = "/skill_rl_probe", release: bool = False) -> Any:
        """Claim (or release) command authority over the arm; on success the token goes into every command
        this probe publishes."""
        from skill_interfaces.srv import ClaimArm

        res = self.call("claim", srv_type=ClaimArm, request=ClaimArm.Request(owner=owner, release=release))
        if res.success:
            self.token = "" if release else res.token
        return res

    @contextlib.contextmanager
    def owning(self, owner: str = "/skill_rl_probe") -> Iterator[str]:
        """Hold the arm (its token goes into this probe's commands) for the ``with`` block, then release it."""
        res = self.claim(owner)
        if not res.success:
            raise AssertionError(f"could not claim the arm: {res.message}")
        try:
            yield res.token
        finally:
            self.claim(owner, release=True)

    def move_joints(self, goal: Any, speed: float = 0.5, tol: float = 0.01, timeout: float = 60.0) -> None:
        """Move the arm to joint positions ``goal`` (rad) at ``speed`` rad/s by streaming targets at 50 Hz as the
        arm's owner (tests use it to set up postures), then wait until it is at rest there."""
        goal = np.asarray(goal, dtype=np.float64)
        names = list(self.arm_state.get("joint_names") or [])
        with self.owning():
            cmd = self.arm_position()
            end = time.monotonic() + timeout
            while np.max(np.abs(self.arm_position() - goal)) > tol:
                if time.monotonic() > end or self.arm_state.get("state") != "ACTIVE":
                    raise AssertionError(f"the arm did not reach {goal.tolist()}: at {self.arm_position().tolist()}, "
                                         f"state {self.arm_state}")
                # lead the measured position by at most 0.1 rad: a target far ahead of a lagging arm is a jump
                q = self.arm_position()
                cmd = np.clip(cmd + np.clip(goal - cmd, -speed * 0.02, speed * 0.02), q - 0.1, q + 0.1)
                self.publish_trajectory([cmd], names)
                time.sleep(0.02)
        self.wait_at_rest(tol=0.02)

    def reset_world(self, seed: int = -1) -> Any:
        from skill_interfaces.srv import ResetWorld

        return self.call("reset_world", srv_type=ResetWorld, request=ResetWorld.Request(seed=int(seed)))

    def change_state(self, transition_id: int, node: str | None = None, timeout: float = 10.0) -> bool:
        """Drive a lifecycle node through ``<node>/change_state`` (lifecycle_msgs Transition ids)."""
        from lifecycle_msgs.srv import ChangeState

        from ._common import wait_future

        name = f"{node or self.arm}/change_state"
        client = self._services.get(name)
        if client is None:
            client = self._services[name] = self.node.create_client(ChangeState, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise AssertionError(f"service {name} not available")
        req = ChangeState.Request()
        req.transition.id = transition_id
        fut = client.call_async(req)
        if not wait_future(fut, timeout):
            raise AssertionError(f"no answer from {name}")
        return bool(fut.result().success)

    def publish_trajectory(self, points: Any, names: Any = (), velocities: Any = (), stamp_offset_s: float = 0.0) -> None:
        """Publish a raw JointTrajectory on the arm's command topic: ``points`` a list of position lists
        (any number, for malformed-input tests), optional ``velocities`` for every point, and the header
        stamped ``stamp_offset_s`` away from this process's ROS time (a sender whose clock jumped)."""
        from builtin_interfaces.msg import Time
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

        msg = JointTrajectory()
        t = self.node.get_clock().now().nanoseconds + int(stamp_offset_s * 1e9)
        sec, nsec = divmod(max(t, 0), 1_000_000_000)
        msg.header.stamp = Time(sec=sec, nanosec=nsec)
        msg.header.frame_id = self.token
        msg.joint_names = list(names)
        msg.points = [JointTrajectoryPoint(positions=[float(x) for x in p], velocities=[float(v) for v in velocities])
                      for p in points]
        self.cmd_pub.publish(msg)

    def set_parameters(self, values: dict[str, Any], node: str | None = None, timeout: float = 10.0) -> None:
        """Set parameters of a node (default: the arm) through ``<node>/set_parameters``; raise unless all succeed."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        from ._common import wait_future

        name = f"{node or self.arm}/set_parameters"
        client = self._services.get(name)
        if client is None:
            client = self._services[name] = self.node.create_client(SetParameters, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise AssertionError(f"service {name} not available")
        req = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
        fut = client.call_async(req)
        if not wait_future(fut, timeout):
            raise AssertionError(f"no answer from {name}")
        bad = [(k, r.reason) for k, r in zip(values, fut.result().results, strict=True) if not r.successful]
        if bad:
            raise AssertionError(f"could not set {bad}")

    def publish_heartbeat(self, topic: str) -> None:
        """One ``std_msgs/Header`` on ``topic`` (what an executor's heartbeat timer sends)."""
        from std_msgs.msg import Header

        if topic not in self._heartbeat_pubs:
            from ._common import COMMANDS

            self._heartbeat_pubs[topic] = self.node.create_publisher(Header, topic, COMMANDS)
        msg = Header(frame_id=self.node.get_name())
        msg.stamp = self.node.get_clock().now().to_msg()
        self._heartbeat_pubs[topic].publish(msg)

    def describe_graph(self) -> str:
        """What this probe sees of its DDS domain: node names and the publishers of the arm's topics (for
        failure messages: a second ``/arm_hal`` means another graph shares the domain; none means discovery
        failed)."""
        nodes = sorted(f"{ns.rstrip('/')}/{name}" for name, ns in self.node.get_node_names_and_namespaces())
        topics = (f"{self.arm}/state", "/joint_states", "/skill_server/heartbeat")
        pubs = {t: len(self.node.get_publishers_info_by_topic(t)) for t in topics}
        return f"ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID')}: nodes {nodes}; publishers {pubs}"

    def publish_command(self, positions: Any, names: Any = ()) -> None:
        from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

        msg = JointTrajectory()
        msg.header.frame_id = self.token
        msg.joint_names = list(names)
        msg.points = [JointTrajectoryPoint(positions=[float(x) for x in positions])]
        self.cmd_pub.publish(msg)


class FakeDriver:
    """A stand-in for a ROS 2 arm driver (ros2_control + joint_trajectory_controller): publishes
    ``sensor_msgs/JointState`` at ``rate_hz`` and mirrors each received one-point JointTrajectory's
    positions into its state at once (velocity = the point's velocities). ``received`` keeps every
    trajectory; ``publishing = False`` makes it go silent (a dead driver)."""

    def __init__(self, joint_names: Any, q0: Any, *, joint_states_topic: str = "/joint_states",
                 command_topic: str = "/joint_trajectory_controller/joint_trajectory", rate_hz: float = 100.0,
                 extra_joints: Any = ("panda_finger_joint1",), name: str = "fake_driver"):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import JointState
        from trajectory_msgs.msg import JointTrajectory

        self.names = list(joint_names)
        self.extra = list(extra_joints)
        self.q = np.array(q0, dtype=np.float64)
        self.v = np.zeros(len(self.names))
        self.received: list[Any] = []
        self.publishing = True
        self._lock = threading.Lock()
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = rclpy.create_node(name, context=self.context)
        self._JointState = JointState
        self.pub = self.node.create_publisher(JointState, joint_states_topic, 10)
        self.node.create_subscription(JointTrajectory, command_topic, self._on_traj, 10)
        self.node.create_timer(1.0 / rate_hz, self._tick)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spinner = NodeSpinner(self.executor, self.node, self.context)

    def _on_traj(self, msg) -> None:
        with self._lock:
            self.received.append(msg)
            if len(msg.points) == 1 and list(msg.joint_names) == self.names:
                self.q = np.array(msg.points[0].positions)
                vel = msg.points[0].velocities
                self.v = np.array(vel) if len(vel) == len(self.names) else np.zeros(len(self.names))

    def _tick(self) -> None:
        if not self.publishing:
            return
        with self._lock:
            msg = self._JointState()
            msg.header.stamp = self.node.get_clock().now().to_msg()
            msg.name = self.names + self.extra
            msg.position = [float(x) for x in self.q] + [0.02] * len(self.extra)
            msg.velocity = [float(x) for x in self.v] + [0.0] * len(self.extra)
            msg.effort = [0.0] * (len(self.names) + len(self.extra))
        self.pub.publish(msg)

    def close(self) -> None:
        self._spinner.close()
