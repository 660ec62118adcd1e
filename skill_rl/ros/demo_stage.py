"""The ROS 2 stage of ``skill-rl demo``: one task on the simulated graph, with what the arm did recorded.

    python -m skill_rl.ros.demo_stage --task tasks/place_then_lift.task --library LIB --out DIR [--seed 0]

Why a module run as a process: nothing outside ``skill_rl.ros`` imports it (import-linter contract), so the
demo (``skill_rl.demo``) runs this one, as the CLI runs the launcher. :func:`run_stage` starts the simulated
graph (``launch/sim.yaml``: arm_hal, skill_server and task_executor, every node on ``LIB`` and the task's
scene) in a DDS domain leased for the run (``DomainLease``, as the tests do), waits for the arm, sends the
task as a ``RunTask`` goal, records the perception while it runs and stops the graph. It writes:

- ``DIR/result.json``: ``status`` (``ran``, ``skipped``: ROS is not usable here, ``error``: the graph did not
  come up or answer) and ``reason``; when it ran: ``code``, ``code_name``, ``message``, ``plan``, ``replans``,
  ``steps_run``, ``skills`` (the entries the feedback named), ``success``, ``task_s``, ``stopped`` (each
  node's exit status after the stop), ``frames``;
- ``DIR/perception.json``: ``{"frames": [PerceivedState as a dict, ...]}``, one per ``/object_states``
  message (~20 Hz) paired with the newest ``/joint_states``, from the goal until its result (quaternions
  wxyz: the library's order, converted in ``skill_rl.ros.description``);
- ``DIR/logs/<node>.log``: each node's output.

Progress goes to stdout as one JSON object per line (``{"event": ...}``). Exit status: 0 when it ran or was
skipped (``result.json`` says which and whether the task succeeded), 1 on an error, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .env import REPO_ROOT, InterfacesNotBuiltError, ensure_interfaces

__all__ = ["availability", "run_stage"]

Emit = Callable[..., None]


def _print_event(event: str, **data: Any) -> None:
    print(json.dumps({"event": event, **data}, default=str), flush=True)


def availability() -> str | None:
    """None when the graph can run in this process's environment, else why not (one line)."""
    if importlib.util.find_spec("rclpy") is None:
        return "rclpy is not installed (the ros extra: pip install 'skill-rl[ros]')"
    try:
        ensure_interfaces()
    except (InterfacesNotBuiltError, ImportError, OSError) as exc:  # not built, or its libraries do not load
        return str(exc)
    return None


class _Recorder:
    """Pairs each ``/object_states`` message with the newest ``/joint_states`` as a ``PerceivedState`` while on."""

    def __init__(self, probe: Any) -> None:
        from sensor_msgs.msg import JointState
        from skill_interfaces.msg import ObjectStates

        from ._common import STREAM

        self.probe = probe
        self.frames: list[Any] = []
        self.recording = False
        self._joints: Any = None
        self._lock = threading.Lock()
        probe.node.create_subscription(JointState, "/joint_states", self._on_joints, STREAM)
        probe.node.create_subscription(ObjectStates, "/object_states", self._on_objects, STREAM)

    def _on_joints(self, msg: Any) -> None:
        self._joints = msg

    def _on_objects(self, msg: Any) -> None:
        from ._common import perceived_state

        if not self.recording or self._joints is None:
            return
        state = perceived_state(self._joints, msg, self.probe.arm_state.get("joint_names") or None)
        with self._lock:
            self.frames.append(state)

    def dump(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dataclasses.asdict(s) for s in self.frames]


def _write_json(path: Path, value: Any) -> None:
    from skill_rl.fileio import atomic_write_text

    atomic_write_text(path, json.dumps(value, indent=1, default=str))


def run_stage(task: str | Path, library: str | Path, out_dir: str | Path, *, seed: int = 0, timeout_s: float = 300.0,
              startup_timeout_s: float = 180.0, emit: Emit = _print_event) -> dict[str, Any]:
    """Run ``task`` (a task file) on the simulated graph over ``library``; returns ``result.json``'s content
    (see the module docstring). ``seed``: the arm's world placement (``arm_hal.seed``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    why = availability()
    if why is not None:
        result: dict[str, Any] = {"status": "skipped", "reason": why}
        _write_json(out / "result.json", result)
        return result
    from skill_rl.planning.tasklang import load_task

    from .testing import DomainLease, RosProbe, wait_until
    from .up import Graph, resolve_config

    task_path = Path(task).resolve()
    text = task_path.read_text(encoding="utf-8")
    load_task(task_path)  # a bad task file fails here, before a graph starts
    world, lib = str(task_path), str(Path(library).resolve())
    overrides: dict[str, dict[str, Any]] = {
        "arm_hal": {"task": world, "seed": int(seed)}, "skill_server": {"world": world, "library": lib},
        "task_executor": {"world": world, "library": lib}}
    recorder: _Recorder | None = None
    result: dict[str, Any] = {"status": "error", "reason": "did not start"}
    t_start = time.perf_counter()
    with DomainLease() as lease:  # a private ROS_DOMAIN_ID: no other graph on this machine meets this one
        graph = Graph(resolve_config(REPO_ROOT / "launch" / "sim.yaml"), domain_id=lease.domain_id,
                      overrides=overrides, log_dir=out / "logs")
        emit("graph_starting", nodes=graph.nodes, domain_id=lease.domain_id)
        graph.start()
        probe = None
        try:
            probe = RosProbe(name="skill_rl_demo")
            recorder = _Recorder(probe)
            probe.wait_arm_state("ACTIVE", timeout=startup_timeout_s)
            emit("arm_active")
            wait_until(lambda: probe.objects is not None, 30, what="/object_states")
            if not probe.task_client.wait_for_server(timeout_sec=60):
                raise AssertionError("no /run_task server within 60 s")
            probe.wait_server_sees("ACTIVE", 60)
            emit("ready", skills=probe.server_status.get("skills", []), startup_s=time.perf_counter() - t_start)
            recorder.recording = True
            t_task = time.perf_counter()
            run = probe.run_task(task=text)
            if not run.wait_answer(30):
                raise AssertionError("the task executor rejected the task")
            emit("task_sent")
            seen, last, end, canceled = 0, None, time.monotonic() + timeout_s, False
            while not run.done.wait(0.2):
                for fb in run.feedback[seen:]:
                    key = (tuple(fb.plan), fb.step, fb.skill, fb.phase, fb.replans)
                    if key != last:  # feedback repeats at the control rate: report changes only
                        last = key
                        emit("feedback", plan=list(fb.plan), step=fb.step, skill=fb.skill, phase=fb.phase,
                             replans=fb.replans)
                seen = len(run.feedback)
                if not canceled and time.monotonic() > end:
                    probe.cancel(run)
                    canceled = True
            time.sleep(0.3)  # the arm's last moments after the answer
            recorder.recording = False
            res = run.result
            names = {v: k for k, v in vars(probe.RunTask.Result).items() if k.isupper() and isinstance(v, int)}
            result = {"status": "ran", "reason": "", "code": int(res.error_code),
                      "code_name": names.get(res.error_code, str(res.error_code)), "message": res.message,
                      "success": res.error_code == probe.RunTask.Result.SUCCESS, "plan": list(res.plan),
                      "replans": int(res.replans), "steps_run": int(res.steps_run),
                      "skills": sorted({fb.skill for fb in run.feedback if fb.skill}),
                      "task_s": round(time.perf_counter() - t_task, 2), "canceled_after_timeout": canceled}
            emit("result", **{k: result[k] for k in ("code_name", "message", "plan", "replans")})
        except AssertionError as exc:  # the graph did not come up or answer in time
            result = {"status": "error", "reason": str(exc)}
        finally:
            if probe is not None:
                probe.close()
            emit("graph_stopping")
            stopped = graph.stop(grace=5.0)
            result["stopped"] = stopped
            emit("stopped", exit_codes=stopped)
    frames = recorder.dump() if recorder is not None else []
    result["frames"] = len(frames)
    result["wall_s"] = round(time.perf_counter() - t_start, 2)
    _write_json(out / "perception.json", {"frames": frames})
    _write_json(out / "result.json", result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m skill_rl.ros.demo_stage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True, help="task file: the world of every node and the goal sent")
    parser.add_argument("--library", required=True, help="skill library folder the nodes run and plan over")
    parser.add_argument("--out", required=True, help="folder for result.json, perception.json and logs/")
    parser.add_argument("--seed", type=int, default=0, help="the arm's world placement (arm_hal.seed)")
    parser.add_argument("--timeout", type=float, default=300.0, help="cancel the task after this many seconds")
    a = parser.parse_args(argv)
    for path, what in ((a.task, "task file"), (a.library, "skill library folder")):
        if not Path(path).exists():
            print(f"error: {what} {path} does not exist", file=sys.stderr)
            return 2
    result = run_stage(a.task, a.library, a.out, seed=a.seed, timeout_s=a.timeout)
    return 1 if result["status"] == "error" else 0


if __name__ == "__main__":
    sys.exit(main())
