"""``task_executor``: the planner over ROS 2: the ``run_task`` action (``skill_interfaces/RunTask``).

Run: ``python -m skill_rl.ros.task_executor --ros-args --params-file launch/sim.yaml`` (``library:=<folder>``).

A ``RunTask`` goal carries a task (task-language text in ``task``, or a file in ``task_file``: its goal atoms;
its objects must be the arm's world's) or, for compatibility, a fixed ``steps`` list. For a task the node runs
:func:`skill_rl.planning.execute.execute_plan`, the same planning-and-monitoring loop as ``skill-rl plan`` in
simulation, over :class:`RosWorld`: the world is perceived from ``/joint_states`` + ``/object_states`` (a
kinematic copy of the task env posed from them gives the observation and the symbolic state), and each plan
step is an ``ExecuteSkill`` goal to the skill server naming the library entry and its parameters. Effects are
checked on the perceived state after each step; a failed step, a dropped object or a changed world make it
replan; a FAULT (E-stop ...) ends the task at once with the fault in the result, and no further step is sent.
Feedback carries the current plan, the running step, its progress and the number of replans.

A ``steps`` list (``[{"skill": str, "params": {...}, "timeout": s}, ...]``) runs in order without planning and
stops at the first step that does not succeed, with its code (the behaviour of earlier versions). With the
``sequence`` parameter set the node runs such a list once at start (re-sending a rejected first goal for up to
``startup_wait_s``) and, with ``exit_after_sequence``, exits with its error code (``skill-rl ros up --sequence``).
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState

from skill_rl.planning.world import PerceivedWorld, StepOutcome

from ._common import STREAM, perceived_state, run_node, stamp_s, threaded_execute, wait_future
from .description import skill_param_msgs
from .env import ensure_interfaces, isolate_dds

ensure_interfaces()
from skill_interfaces.action import ExecuteSkill, RunTask  # noqa: E402
from skill_interfaces.msg import ObjectStates  # noqa: E402

__all__ = ["PARAMS", "RosWorld", "Step", "TaskExecutorNode", "TaskResult", "main", "parse_steps"]

PARAMS: dict[str, Any] = {
    "skill_action": "/execute_skill",
    "action_name": "run_task",
    "library": "",  # the skill library the planner plans over (the skill server's); "": the scripted primitives
    "world": "TabletopPickPlace-v0",  # the arm's world (its kinematic copy): the skill server's
    "joint_states_topic": "/joint_states",
    "object_states_topic": "/object_states",
    "perception_timeout_s": 0.5,
    "perception_wait_s": 10.0,  # a task waits this long for the first joint states and object poses
    "server_timeout_s": 10.0,  # wait this long for the skill server before a step counts as REJECTED
    "max_decisions": 16,  # steps the planner may send for one task (each attempt counts)
    "sequence": "",  # JSON list of {"skill", "params", "timeout"}: run once at start when set
    "exit_after_sequence": False,  # exit (status = the sequence's error code) once it is done
    "startup_wait_s": 60.0,  # the start-up sequence re-sends a rejected first goal this long (arm coming up)
}

R = RunTask.Result
CODE_NAMES = {v: k for k, v in vars(R).items() if k.isupper() and isinstance(v, int)}
#: ExecuteSkill result code -> how the planner's world reports the step (skill_rl.planning.world.STATUSES).
STEP_STATUS = {
    R.SUCCESS: "finished", R.FAILED: "finished", R.TIMEOUT: "stopped", R.CANCELED: "cancelled", R.FAULT: "fault",
    R.ARM_INACTIVE: "fault", R.UNKNOWN_SKILL: "refused", R.BAD_PARAMS: "refused", R.REJECTED: "refused",
    R.STALE_PERCEPTION: "refused",
}


@dataclass(frozen=True)
class Step:
    """One step of a fixed list: a library entry, its parameters (``{name: value}``) and a timeout (s; 0 =
    the skill's default)."""

    skill: str
    params: dict[str, Any]
    timeout: float = 0.0


@dataclass(frozen=True)
class TaskResult:
    error_code: int
    failed_step: int  # -1 when no step failed
    message: str
    plan: tuple[str, ...] = ()
    replans: int = 0
    steps_run: int = 0
    control_steps: int = 0

    @property
    def ok(self) -> bool:
        return self.error_code == R.SUCCESS

    @property
    def code_name(self) -> str:
        return CODE_NAMES.get(self.error_code, str(self.error_code))


def parse_steps(text: str | list) -> list[Step]:
    """Validate a step list (JSON text or a list) into ``Step``s; raises ValueError naming the bad step."""
    data = json.loads(text) if isinstance(text, str) else text
    if not isinstance(data, list) or not data:
        raise ValueError(f"a step list is a non-empty JSON list of {{skill, params, timeout}}, got {text!r}")
    steps = []
    for i, item in enumerate(data):
        if isinstance(item, str):
            item = {"skill": item}
        if not isinstance(item, dict) or not isinstance(item.get("skill"), str) or not item["skill"]:
            raise ValueError(f"step {i}: needs a non-empty 'skill' string, got {item!r}")
        unknown = set(item) - {"skill", "params", "timeout"}
        if unknown:
            raise ValueError(f"step {i}: unknown keys {sorted(unknown)} (valid: skill, params, timeout)")
        params = item.get("params", {})
        if isinstance(params, str):
            params = json.loads(params) if params.strip() else {}
        if not isinstance(params, dict):
            raise ValueError(f"step {i}: params must be an object, got {params!r}")
        timeout = item.get("timeout", 0.0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout < 0:
            raise ValueError(f"step {i}: timeout must be a number >= 0 (s), got {timeout!r}")
        steps.append(Step(item["skill"], params, float(timeout)))
    return steps


class SkillClient:
    """Sends ExecuteSkill goals on ``node`` (whose executor spins in another thread: calls block) and waits for
    their results; cancels the running goal when ``should_cancel()`` turns true."""

    def __init__(self, node: Node, action: str, server_timeout_s: float, callback_group: Any = None):
        self.node, self.action, self.server_timeout_s = node, action, float(server_timeout_s)
        self.client = ActionClient(node, ExecuteSkill, action, callback_group=callback_group)

    def run(self, skill: str, params: dict[str, Any], timeout: float = 0.0, *,
            on_feedback: Callable[[Any], None] | None = None, should_cancel: Callable[[], bool] | None = None,
            retry_rejected_s: float = 0.0) -> tuple[int, str, Any]:
        """(error code, message, result or None) of one goal; a rejected goal is REJECTED (re-sent every 0.5 s
        for ``retry_rejected_s``)."""
        if not self.client.wait_for_server(timeout_sec=self.server_timeout_s):
            return R.REJECTED, f"no skill server on {self.action} after {self.server_timeout_s:g} s", None
        goal = ExecuteSkill.Goal(skill=skill, params=skill_param_msgs(params or {}), timeout=float(timeout))
        until = time.monotonic() + retry_rejected_s
        while True:
            sent = self.client.send_goal_async(goal, feedback_callback=(lambda m: on_feedback(m.feedback))
                                               if on_feedback else None)
            if not wait_future(sent, self.server_timeout_s) or sent.result() is None:
                return R.REJECTED, f"no answer from {self.action} to the goal", None
            handle = sent.result()
            if handle.accepted or time.monotonic() > until or (should_cancel is not None and should_cancel()):
                break
            time.sleep(0.5)
        if not handle.accepted:
            return R.REJECTED, ("the skill server rejected the goal (its ~/status last_rejection says why: busy, "
                                "the arm not ACTIVE, an unknown skill, bad parameters or stale perception)"), None
        done = handle.get_result_async()
        canceling = False
        while not done.done():
            if not canceling and should_cancel is not None and should_cancel():
                handle.cancel_goal_async()
                canceling = True
            time.sleep(0.01)
        res = done.result().result
        return int(res.error_code), res.message, res


class RosWorld(PerceivedWorld):
    """The planner's world over ROS 2: perceives through the node's latest ``/joint_states`` and
    ``/object_states``; acts by ExecuteSkill goals through the node's skill client."""

    def __init__(self, node: TaskExecutorNode, scene: Any, should_cancel: Callable[[], bool],
                 on_feedback: Callable[[Any], None]):
        super().__init__(scene)
        self.node, self.should_cancel, self.on_feedback = node, should_cancel, on_feedback

    def perceive(self) -> Any:
        return self.node.perception()

    def execute(self, step: Any) -> StepOutcome:
        code, message, res = self.node.skills.run(step.skill, step.params, on_feedback=self.on_feedback,
                                                  should_cancel=self.should_cancel)
        steps = int(res.steps) if res is not None else 0
        self.used += steps
        status = STEP_STATUS.get(code, "finished")
        self.node.last_step_code = code
        name = CODE_NAMES.get(code, str(code))
        verdict = None if code not in (R.SUCCESS, R.FAILED) else code == R.SUCCESS
        return StepOutcome(status, steps, f"{name}: {message}", fault=name if status == "fault" else "",
                           skill_success=verdict)


class TaskExecutorNode(Node):
    """See the module docstring."""

    def __init__(self, node_name: str = "task_executor", **kwargs: Any):
        super().__init__(node_name, **kwargs)
        for name, default in PARAMS.items():
            self.declare_parameter(name, default)
        self.exit_code = 0
        self._joints: JointState | None = None
        self._objects: ObjectStates | None = None
        self.last_step_code = R.SUCCESS
        io = MutuallyExclusiveCallbackGroup()
        group = ReentrantCallbackGroup()
        self.create_subscription(JointState, self.p("joint_states_topic"), lambda m: setattr(self, "_joints", m),
                                 STREAM, callback_group=io)
        self.create_subscription(ObjectStates, self.p("object_states_topic"), lambda m: setattr(self, "_objects", m),
                                 STREAM, callback_group=io)
        self.skills = SkillClient(self, self.p("skill_action"), self.p("server_timeout_s"), group)
        self._busy = threading.Lock()
        self._planner: tuple[Any, Any] | None = None  # (SkillSet, KinematicScene), built on the first task
        self._server = ActionServer(self, RunTask, self.p("action_name"), execute_callback=threaded_execute(self._execute),
                                    goal_callback=self._on_goal, cancel_callback=lambda _g: CancelResponse.ACCEPT,
                                    callback_group=group)

    def p(self, name: str) -> Any:
        return self.get_parameter(name).value

    # -------------------------------------------------------- perception
    def perception(self) -> Any:
        from skill_rl.library.perception import PerceptionError

        joints, objects = self._joints, self._objects
        if joints is None or objects is None:
            raise PerceptionError(f"no {'joint states' if joints is None else 'object poses'} received yet")
        age = self.get_clock().now().nanoseconds * 1e-9 - stamp_s(objects.header.stamp)
        if age > float(self.p("perception_timeout_s")):
            raise PerceptionError(f"the object poses are {age:.2f} s old (limit {self.p('perception_timeout_s')} s)")
        return perceived_state(joints, objects)

    def wait_for_perception(self, timeout_s: float, should_cancel: Callable[[], bool] | None = None) -> bool:
        """Block (at most ``timeout_s``) until the first joint states and object poses have arrived; whether they
        have. Why: a task sent right after the graph starts (the demo stage, ``skill-rl ros task``) can arrive
        before DDS discovery has matched the arm's publishers; failing it as STALE_PERCEPTION then is a start-up
        race, not a fault (a CI rehearsal failed two tests this way). Staleness is still checked afterwards."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while self._joints is None or self._objects is None:
            if time.monotonic() >= deadline or (should_cancel is not None and should_cancel()):
                return False
            time.sleep(0.02)
        return True

    def _planner_parts(self) -> tuple[Any, Any]:
        if self._planner is None:
            from skill_rl.library.perception import KinematicScene
            from skill_rl.planning.execute import SkillSet

            from .scene import make_world_env
            from .skill_server import SkillServerNode

            library, _ = SkillServerNode._open_library(str(self.p("library")))
            self._planner = (SkillSet(library), KinematicScene(make_world_env(str(self.p("world")))))
        return self._planner

    # -------------------------------------------------------- goals
    @staticmethod
    def _goal_problem(goal: Any) -> str:
        given = [k for k in ("task", "task_file", "steps") if getattr(goal, k).strip()]
        if len(given) != 1:
            return f"give exactly one of task, task_file and steps (got {', '.join(given) or 'none'})"
        return ""

    def _on_goal(self, goal: Any) -> Any:
        if self._busy.locked():
            self.get_logger().warning("rejected run_task goal: a task is running")
            return GoalResponse.REJECT
        problem = self._goal_problem(goal)
        if problem:
            self.get_logger().warning(f"rejected run_task goal: {problem}")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def check_steps(self, steps: list[Step]) -> TaskResult | None:
        """A fixed list checked against the library before anything moves (the skill server would refuse the
        same goals, but a refusal carries no code): the first unknown skill or invalid call, or None."""
        from skill_rl.library import LibraryError, UnknownSkillError

        from .skill_server import parse_skill_name

        skills, scene = self._planner_parts()
        for i, step in enumerate(steps):
            try:
                name, version = parse_skill_name(step.skill)
                entry = skills.library.get(name, version)
            except (ValueError, UnknownSkillError) as e:
                return TaskResult(R.UNKNOWN_SKILL, i, f"step {i} ({step.skill}): {e}")
            try:
                entry.validate_params(dict(step.params), scene.kinds)
            except LibraryError as e:
                return TaskResult(R.BAD_PARAMS, i, f"step {i} ({step.skill}): {e}")
        return None

    def run_steps(self, steps: list[Step], *, on_feedback: Callable[..., None] | None = None,
                  should_cancel: Callable[[], bool] | None = None, retry_rejected_s: float = 0.0) -> TaskResult:
        """A fixed list, in order, stopping at the first step that does not succeed (checked up front)."""
        plan = tuple(f"{s.skill}({', '.join(f'{k}={v}' for k, v in s.params.items())})" for s in steps)
        problem = self.check_steps(steps)
        if problem is not None:
            return TaskResult(problem.error_code, problem.failed_step, problem.message, plan)
        for i, step in enumerate(steps):
            if should_cancel is not None and should_cancel():
                return TaskResult(R.CANCELED, i, f"canceled before step {i} ({step.skill})", plan, 0, i)
            self.get_logger().info(f"step {i}: {step.skill} {step.params or ''}")
            code, message, _ = self.skills.run(
                step.skill, step.params, step.timeout, should_cancel=should_cancel,
                on_feedback=(lambda fb, i=i, s=step: on_feedback(plan, i, s.skill, fb, 0)) if on_feedback else None,
                retry_rejected_s=retry_rejected_s if i == 0 else 0.0)
            if code != R.SUCCESS:
                return TaskResult(code, i, f"step {i} ({step.skill}) {CODE_NAMES.get(code, code)}: {message}",
                                  plan, 0, i + 1)
        return TaskResult(R.SUCCESS, -1, f"all {len(steps)} steps succeeded", plan, 0, len(steps))

    def run_task(self, task_text: str, task_file: str, *, on_feedback: Callable[..., None] | None = None,
                 should_cancel: Callable[[], bool] | None = None) -> TaskResult:
        """Plan over the library for the task's goal and execute it with monitoring and replanning."""
        from skill_rl.errors import UserError
        from skill_rl.library.perception import PerceptionError
        from skill_rl.planning.execute import ExecConfig, execute_plan
        from skill_rl.planning.tasklang import load_task, parse_task

        try:
            spec = load_task(task_file) if task_file.strip() else parse_task(task_text, source="<RunTask goal>")
        except UserError as e:
            return TaskResult(R.BAD_TASK, -1, str(e))
        skills, scene = self._planner_parts()
        missing = sorted({o.name for o in spec.objects} - set(scene.kinds))
        if missing:
            return TaskResult(R.BAD_TASK, -1, f"task {spec.name!r} names objects the arm's world ({self.p('world')}) "
                                              f"does not have: {', '.join(missing)}; it has {', '.join(scene.kinds)}")
        state = {"plan": (), "step": -1, "skill": "", "replans": 0, "sent": 0}

        def on_event(kind: str, data: dict[str, Any]) -> None:
            if kind == "plan":
                state["plan"] = tuple(data.get("plan", ()))
            elif kind == "replan":
                state["replans"] += 1
            elif kind == "step":
                state["sent"] += 1
                state["skill"] = str(data.get("skill", ""))
                plan = list(state["plan"])
                state["step"] = plan.index(data["step"]) if data.get("step") in plan else 0
            if on_feedback is not None and kind in ("plan", "replan", "step"):
                on_feedback(state["plan"], state["step"], state["skill"], None, state["replans"])

        def step_feedback(fb: Any) -> None:
            if on_feedback is not None:
                on_feedback(state["plan"], state["step"], state["skill"], fb, state["replans"])

        if not self.wait_for_perception(float(self.p("perception_wait_s")), should_cancel):
            self.get_logger().warning(f"no perception after {self.p('perception_wait_s')} s: is arm_hal publishing "
                                      f"{self.p('joint_states_topic')} and {self.p('object_states_topic')}?")
        world = RosWorld(self, scene, should_cancel or (lambda: False), step_feedback)
        self._world = world
        self.last_step_code = R.SUCCESS
        try:
            trace = execute_plan(world, spec.goal, skills, config=ExecConfig(max_decisions=int(self.p("max_decisions"))),
                                 on_event=on_event)
        except PerceptionError as e:
            return TaskResult(R.STALE_PERCEPTION, -1, f"cannot perceive the world: {e}", state["plan"], state["replans"],
                              state["sent"])
        except UserError as e:
            return TaskResult(R.NO_PLAN, -1, str(e), state["plan"], state["replans"], state["sent"])
        plan = tuple(state["plan"])
        outcome, reason = trace["outcome"], trace["reason"]
        replans = max(0, int(trace["replans"]) - 1)  # the trace counts the first plan too
        failed = next((i for i, d in enumerate(trace["decisions"]) if d.get("status") not in ("finished", None)
                       or not str(d.get("event", "ok")).startswith("ok")), -1)
        if outcome == "success":
            return TaskResult(R.SUCCESS, -1, f"the goal holds: {reason}", plan, replans, state["sent"])
        if outcome == "cancelled":
            code = R.CANCELED
        elif outcome == "fault":
            code = self.last_step_code if self.last_step_code in (R.FAULT, R.ARM_INACTIVE) else R.FAULT
        elif trace["decisions"] and self.last_step_code != R.SUCCESS:
            code = self.last_step_code
        elif "no plan" in reason:
            code = R.NO_PLAN
        else:
            code = R.FAILED
        return TaskResult(code, failed, f"{outcome}: {reason}", plan, replans, state["sent"])

    def _execute(self, goal_handle: Any) -> Any:
        goal = goal_handle.request

        def on_feedback(plan, step, skill, fb, replans) -> None:
            msg = RunTask.Feedback(plan=list(plan), step=int(step), skill=str(skill), replans=int(replans))
            if fb is not None:
                msg.progress, msg.phase = float(fb.progress), str(fb.phase)
            goal_handle.publish_feedback(msg)

        def should_cancel() -> bool:
            return bool(goal_handle.is_cancel_requested)

        with self._busy:
            if goal.steps.strip():
                try:
                    result = self.run_steps(parse_steps(goal.steps), on_feedback=on_feedback, should_cancel=should_cancel)
                except (ValueError, json.JSONDecodeError) as e:
                    result = TaskResult(R.BAD_TASK, -1, f"bad step list: {e}")
            else:
                result = self.run_task(goal.task, goal.task_file, on_feedback=on_feedback, should_cancel=should_cancel)
        world, self._world = getattr(self, "_world", None), None
        msg = R(error_code=result.error_code, failed_step=result.failed_step, message=result.message,
                plan=list(result.plan), replans=result.replans, steps_run=result.steps_run,
                control_steps=int(world.used) if world is not None else result.control_steps)
        if result.ok:
            goal_handle.succeed()
        elif result.error_code == R.CANCELED:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        text = f"run_task {result.code_name}: {result.message[:300]}"
        if result.ok:  # (rclpy: one severity per logging call site)
            self.get_logger().info(text)
        else:
            self.get_logger().warning(text)
        return msg

    def start_sequence(self) -> None:
        """Run the ``sequence`` parameter once, in a thread (the executor must spin meanwhile)."""
        sequence = str(self.p("sequence"))

        def work() -> None:
            try:
                result = self.run_steps(parse_steps(sequence), retry_rejected_s=float(self.p("startup_wait_s")))
            except (ValueError, json.JSONDecodeError) as e:
                result = TaskResult(R.BAD_TASK, -1, f"bad sequence: {e}")
            text = f"sequence {result.code_name}: {result.message}"
            if result.ok:
                self.get_logger().info(text)
            else:
                self.get_logger().error(text)
            self.exit_code = result.error_code
            if self.p("exit_after_sequence"):
                import rclpy

                rclpy.try_shutdown()

        threading.Thread(target=work, daemon=True).start()


def main(args: list[str] | None = None) -> int:
    isolate_dds()

    def after_start(node: TaskExecutorNode) -> None:
        if str(node.p("sequence")).strip():
            node.start_sequence()

    return run_node(lambda: TaskExecutorNode(), after_start=after_start, args=args)


if __name__ == "__main__":
    sys.exit(main())

