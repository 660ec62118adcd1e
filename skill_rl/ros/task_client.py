"""Send a task to a running graph: ``skill-rl ros task TASK`` (``python -m skill_rl.ros.task_client``).

TASK is a task file (a path, or a task shipped with skill_rl such as ``push_scene_region.task``: the file is
read here and sent as text, so the executor's machine needs no copy) or task-language text. The client waits
for the task executor's ``/run_task``, prints each feedback change (the plan, the running step and its phase,
replans) and the result, and exits with the result's error code (0: the goal holds). Ctrl-C cancels the task
(the executor cancels the running skill; the arm stops before the answer).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from .env import ensure_interfaces, isolate_dds

__all__ = ["main", "send_task"]


def _task_text(task: str) -> str:
    if task.lstrip().startswith(("(", ";")):
        return task
    from skill_rl.planning.tasklang import load_task, shipped_task

    path = Path(task)
    if not path.is_file():
        path = shipped_task(task) or path
    load_task(path)  # a parse error stops here, with file:line:column
    return path.read_text(encoding="utf-8")


def send_task(task: str, *, action: str = "/run_task", server_timeout: float = 30.0, timeout: float = 600.0,
              out: Any = print) -> int:
    """Run one task on the graph; returns the RunTask error code (see the module docstring)."""
    text = _task_text(task)
    isolate_dds()
    ensure_interfaces()
    import rclpy
    from rclpy.action import ActionClient
    from skill_interfaces.action import RunTask

    from ._common import wait_future

    rclpy.init(signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node = rclpy.create_node("skill_rl_task_client")
    from rclpy.executors import SingleThreadedExecutor

    from .testing import NodeSpinner

    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = NodeSpinner(executor, node, rclpy.get_default_context())
    names = {v: k for k, v in vars(RunTask.Result).items() if k.isupper() and isinstance(v, int)}
    cancel = []
    old = signal.signal(signal.SIGINT, lambda *_: cancel.append(1))
    try:
        client = ActionClient(node, RunTask, action)
        if not client.wait_for_server(timeout_sec=server_timeout):
            out(f"no task executor on {action} after {server_timeout:g} s (is `skill-rl ros up` running, in this "
                f"ROS_DOMAIN_ID?)")
            return int(RunTask.Result.REJECTED)
        last: list[Any] = [None]

        def on_feedback(msg: Any) -> None:
            fb = msg.feedback
            key = (tuple(fb.plan), fb.step, fb.skill, fb.phase, fb.replans)
            if key != last[0]:
                last[0] = key
                out(f"[{fb.replans} replans] plan: {' -> '.join(fb.plan) or '(planning)'} | step {fb.step}: "
                    f"{fb.skill} {fb.phase} {fb.progress:.0%}")

        sent = client.send_goal_async(RunTask.Goal(task=text), feedback_callback=on_feedback)
        if not wait_future(sent, server_timeout) or not sent.result().accepted:
            out("the task executor rejected the task (busy with another one?)")
            return int(RunTask.Result.REJECTED)
        done = sent.result().get_result_async()
        end = time.monotonic() + timeout
        while not done.done():
            if cancel:
                out("canceling ...")
                sent.result().cancel_goal_async()
                cancel.clear()
            if time.monotonic() > end:
                out(f"no result within {timeout:g} s: canceling")
                sent.result().cancel_goal_async()
                end = float("inf")
            time.sleep(0.05)
        res = done.result().result
        out(f"{names.get(res.error_code, res.error_code)}: {res.message}")
        out(f"plan: {' -> '.join(res.plan)}; replans {res.replans}; skills run {res.steps_run}")
        return int(res.error_code)
    finally:
        signal.signal(signal.SIGINT, old)
        spinner.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skill-rl ros task", description=__doc__.split("\n\n")[0])
    parser.add_argument("task", help="a task file (path or shipped name) or task-language text")
    parser.add_argument("--action", default="/run_task", help="the task executor's RunTask action")
    parser.add_argument("--timeout", type=float, default=600.0, help="cancel the task after this many seconds")
    a = parser.parse_args(argv)
    try:
        return send_task(a.task, action=a.action, timeout=a.timeout)
    except Exception as e:  # noqa: BLE001 - a bad task file or no ROS: one line, non-zero
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
