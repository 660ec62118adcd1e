"""``task_executor``: runs a sequence of skills, one ``execute_skill`` goal after another.

Run: ``python -m skill_rl.ros.task_executor --ros-args --params-file launch/sim.yaml``.

A sequence is a JSON list of steps ``{"skill": str, "params": {...} (optional), "timeout": s (optional)}``.
Each step is an ExecuteSkill goal to ``skill_action``; the sequence stops at the first step that does not
succeed and reports that step's error code (``REJECTED`` when the skill server refused the goal or did
not answer within ``server_timeout_s``; ``BAD_PARAMS`` for a malformed list).

Interfaces: action server ``run_task`` (``skill_interfaces/action/RunTask``: goal ``steps`` JSON; feedback
step index, skill, progress, phase; canceling it cancels the running skill -> ``CANCELED``). With the
``sequence`` parameter set, the node runs that sequence once at start (re-sending a rejected first goal
for up to ``startup_wait_s`` while the arm comes up); ``exit_after_sequence: true``
then exits with the sequence's error code as the exit status (a one-shot task runner, e.g. from
``python -m skill_rl.ros.up --sequence ...``).

``TaskExecutor`` (the engine) works on any rclpy node, so other programs can run sequences in-process.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .env import ensure_interfaces, isolate_dds

__all__ = ["Step", "TaskExecutor", "TaskExecutorNode", "TaskResult", "main", "parse_steps"]  # noqa: F822 - lazy class

PARAMS: dict[str, Any] = {
    "skill_action": "/execute_skill",
    "action_name": "run_task",
    "server_timeout_s": 10.0,
    "sequence": "",
    "exit_after_sequence": False,
    "startup_wait_s": 60.0,  # the start-up sequence re-sends a rejected first goal this long (arm coming up)
}

# ExecuteSkill.Result codes (mirrored here so that parsing needs no ROS; checked against the msg in tests).
SUCCESS, TIMEOUT, CANCELED, FAULT, UNKNOWN_SKILL, REJECTED, BAD_PARAMS, FAILED = range(8)
CODE_NAMES = {SUCCESS: "SUCCESS", TIMEOUT: "TIMEOUT", CANCELED: "CANCELED", FAULT: "FAULT",
              UNKNOWN_SKILL: "UNKNOWN_SKILL", REJECTED: "REJECTED", BAD_PARAMS: "BAD_PARAMS", FAILED: "FAILED"}


@dataclass(frozen=True)
class Step:
    skill: str
    params: str = ""  # JSON object text
    timeout: float = 0.0  # s; <= 0: the primitive's default


@dataclass(frozen=True)
class TaskResult:
    error_code: int
    failed_step: int  # -1 when every step succeeded
    message: str
    results: tuple[tuple[int, str], ...] = ()  # (error_code, message) of each step run

    @property
    def ok(self) -> bool:
        return self.error_code == SUCCESS

    @property
    def code_name(self) -> str:
        return CODE_NAMES.get(self.error_code, str(self.error_code))


def parse_steps(text: str | list) -> list[Step]:
    """Validate a sequence (JSON text or a list) into ``Step``s; raises ValueError naming the bad step."""
    data = json.loads(text) if isinstance(text, str) else text
    if not isinstance(data, list) or not data:
        raise ValueError(f"a sequence is a non-empty JSON list of {{skill, params, timeout}}, got {text!r}")
    steps = []
    for i, item in enumerate(data):
        if isinstance(item, str):
            item = {"skill": item}
        if not isinstance(item, dict) or not isinstance(item.get("skill"), str) or not item["skill"]:
            raise ValueError(f"step {i}: needs a string 'skill', got {item!r}")
        unknown = set(item) - {"skill", "params", "timeout"}
        if unknown:
            raise ValueError(f"step {i}: unknown keys {sorted(unknown)} (valid: skill, params, timeout)")
        params = item.get("params", {})
        if isinstance(params, dict):
            params = json.dumps(params)
        elif not isinstance(params, str):
            raise ValueError(f"step {i}: params must be an object (or JSON text), got {params!r}")
        timeout = item.get("timeout", 0.0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise ValueError(f"step {i}: timeout must be a number of seconds, got {timeout!r}")
        steps.append(Step(item["skill"], params, float(timeout)))
    return steps


class TaskExecutor:
    """Runs sequences through an ExecuteSkill action client on ``node`` (whose executor must be spinning
    in another thread: ``run`` blocks)."""

    def __init__(self, node, skill_action: str = "/execute_skill", server_timeout_s: float = 10.0, callback_group=None):
        ensure_interfaces()
        from rclpy.action import ActionClient
        from skill_interfaces.action import ExecuteSkill

        self.node = node
        self.ExecuteSkill = ExecuteSkill
        self.server_timeout_s = float(server_timeout_s)
        self.skill_action = skill_action
        self.client = ActionClient(node, ExecuteSkill, skill_action, callback_group=callback_group)

    def run(self, steps: list[Step], *, on_feedback: Callable[[int, Step, float, str], None] | None = None,
            should_cancel: Callable[[], bool] | None = None, retry_rejected_s: float = 0.0) -> TaskResult:
        """Run ``steps`` in order; stop at the first that does not succeed. ``retry_rejected_s`` > 0: a
        rejected first goal is re-sent every 0.5 s for up to that long (the graph is still starting)."""
        from ._common import wait_future

        results: list[tuple[int, str]] = []
        log = self.node.get_logger()
        for i, step in enumerate(steps):
            if should_cancel is not None and should_cancel():
                return TaskResult(CANCELED, i, f"canceled before step {i} ({step.skill})", tuple(results))
            if not self.client.wait_for_server(timeout_sec=self.server_timeout_s):
                return TaskResult(REJECTED, i, f"step {i} ({step.skill}): no skill server on "
                                  f"{self.skill_action} after {self.server_timeout_s:g} s", tuple(results))
            goal = self.ExecuteSkill.Goal(skill=step.skill, params=step.params, timeout=float(step.timeout))

            def feedback(msg, i=i, step=step):
                if on_feedback is not None:
                    on_feedback(i, step, float(msg.feedback.progress), msg.feedback.phase)

            log.info(f"step {i}: {step.skill} {step.params or ''}")
            retry_until = time.monotonic() + (retry_rejected_s if i == 0 else 0.0)
            while True:
                sent = self.client.send_goal_async(goal, feedback_callback=feedback)
                if not wait_future(sent, self.server_timeout_s) or sent.result() is None:
                    return TaskResult(REJECTED, i, f"step {i} ({step.skill}): no answer to the goal", tuple(results))
                handle = sent.result()
                if handle.accepted or time.monotonic() > retry_until or (should_cancel is not None and should_cancel()):
                    break
                time.sleep(0.5)
            if not handle.accepted:
                results.append((REJECTED, "goal rejected"))
                return TaskResult(REJECTED, i, f"step {i} ({step.skill}): goal rejected by the skill server (busy, or "
                                  f"the arm is not ACTIVE)", tuple(results))
            done = handle.get_result_async()
            canceling = False
            while not done.done():
                if not canceling and should_cancel is not None and should_cancel():
                    handle.cancel_goal_async()
                    canceling = True
                time.sleep(0.01)
            res = done.result().result
            results.append((int(res.error_code), res.message))
            if res.error_code != SUCCESS:
                return TaskResult(int(res.error_code), i, f"step {i} ({step.skill}) {CODE_NAMES.get(res.error_code, res.error_code)}: "
                                  f"{res.message}", tuple(results))
        return TaskResult(SUCCESS, -1, f"all {len(steps)} steps succeeded", tuple(results))


def _make_node_class():
    ensure_interfaces()
    from rclpy.action import ActionServer, CancelResponse, GoalResponse
    from rclpy.callback_groups import ReentrantCallbackGroup
    from rclpy.node import Node
    from skill_interfaces.action import RunTask

    class TaskExecutorNode(Node):
        """See the module docstring."""

        def __init__(self, node_name: str = "task_executor", **kwargs: Any):
            super().__init__(node_name, **kwargs)
            for name, default in PARAMS.items():
                self.declare_parameter(name, default)
            self.exit_code = 0
            group = ReentrantCallbackGroup()
            self.executor_engine = TaskExecutor(self, self.p("skill_action"), self.p("server_timeout_s"), group)
            self._busy = threading.Lock()
            self._server = ActionServer(self, RunTask, self.p("action_name"), execute_callback=self._execute,
                                        goal_callback=self._on_goal, cancel_callback=lambda _g: CancelResponse.ACCEPT,
                                        callback_group=group)

        def p(self, name: str) -> Any:
            return self.get_parameter(name).value

        def _on_goal(self, goal) -> Any:
            if self._busy.locked():
                self.get_logger().warning("rejected run_task goal: a task is running")
                return GoalResponse.REJECT
            return GoalResponse.ACCEPT

        def run_sequence(self, text: str, on_feedback=None, should_cancel=None, retry_rejected_s: float = 0.0) -> TaskResult:
            try:
                steps = parse_steps(text)
            except (ValueError, json.JSONDecodeError) as e:
                return TaskResult(BAD_PARAMS, -1, f"bad sequence: {e}")
            with self._busy:
                result = self.executor_engine.run(steps, on_feedback=on_feedback, should_cancel=should_cancel,
                                                  retry_rejected_s=retry_rejected_s)
            text = f"task {result.code_name}: {result.message[:300]}"
            if result.ok:  # (rclpy: one severity per logging call site)
                self.get_logger().info(text)
            else:
                self.get_logger().warning(text)
            return result

        def _execute(self, goal_handle) -> Any:
            fb = RunTask.Feedback()

            def on_feedback(i, step, progress, phase):
                fb.step, fb.skill, fb.progress, fb.phase = i, step.skill, progress, phase
                goal_handle.publish_feedback(fb)

            result = self.run_sequence(goal_handle.request.steps, on_feedback, lambda: goal_handle.is_cancel_requested)
            if result.ok:
                goal_handle.succeed()
            elif result.error_code == CANCELED and goal_handle.is_cancel_requested:
                goal_handle.canceled()
            else:
                goal_handle.abort()
            return RunTask.Result(error_code=result.error_code, failed_step=result.failed_step, message=result.message)

        def start_sequence(self) -> None:
            """Run the ``sequence`` parameter once (in a thread), if set; exit afterwards if asked."""
            text = self.p("sequence")
            if not text:
                return

            def work():
                result = self.run_sequence(text, retry_rejected_s=float(self.p("startup_wait_s")))
                self.exit_code = result.error_code
                if self.p("exit_after_sequence"):
                    import rclpy

                    rclpy.try_shutdown(context=self.context)

            threading.Thread(target=work, name="sequence", daemon=True).start()

    return TaskExecutorNode


def __getattr__(name: str):
    if name == "TaskExecutorNode":  # built on first use: importing this module imports no rclpy
        cls = _make_node_class()
        globals()["TaskExecutorNode"] = cls
        return cls
    raise AttributeError(name)


def main(args: list[str] | None = None) -> int:
    isolate_dds()
    from ._common import run_node

    return run_node(lambda: __getattr__("TaskExecutorNode")(), threads=4, after_start=lambda n: n.start_sequence(),
                    args=args)


if __name__ == "__main__":
    sys.exit(main())
