"""``python -m skill_rl.ros.demo_stage``: the ROS 2 stage of ``skill-rl demo`` as the demo runs it (a process).

One real run on the simulated graph over a scripted library (the learned-skill path is test_ros_pipeline's):
it reports the RunTask result, records the perceived world at ~20 Hz and stops every node. Without the built
interfaces it skips with the reason; bad arguments exit 2. No timing assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._extras import require

require("rclpy", extra="ros")

from skill_rl.library import SkillLibrary, add_scripted_primitives  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TASK = ROOT / "tasks" / "place_then_lift.task"
MILESTONES = ["graph_starting", "arm_active", "ready", "task_sent", "result", "graph_stopping", "stopped"]


def stage(*args: str, env: dict[str, str] | None = None, timeout: float = 540) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "skill_rl.ros.demo_stage", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.mark.timeout(600)
def test_runs_the_task_on_the_graph_records_perception_and_stops_it(tmp_path):
    lib = SkillLibrary(tmp_path / "lib")
    add_scripted_primitives(lib)
    out = tmp_path / "out"
    res = stage("--task", str(TASK), "--library", str(lib.root), "--out", str(out), "--timeout", "240")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]

    events = [json.loads(line)["event"] for line in res.stdout.splitlines() if line.startswith("{")]
    assert [e for e in events if e in MILESTONES] == MILESTONES, events

    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "ran", result
    assert result["success"] == (result["code"] == 0) and result["code_name"]
    assert result["plan"] and result["steps_run"] >= 1
    keys = {e.key for e in lib.list()}
    assert result["skills"] and set(result["skills"]) <= keys, result["skills"]
    assert set(result["stopped"]) == {"arm_hal", "skill_server", "task_executor"}
    assert all(code is not None for code in result["stopped"].values()), result["stopped"]  # every node exited
    for node in ("arm_hal", "skill_server", "task_executor"):
        assert (out / "logs" / f"{node}.log").is_file()

    frames = json.loads((out / "perception.json").read_text())["frames"]
    assert len(frames) == result["frames"] > 10
    names = {"cube_red", "cube_blue", "region"}
    for f in frames:
        assert len(f["joint_positions"]) == 7 and len(f["finger_positions"]) == 2
        assert {o["name"] for o in f["objects"]} == names
        assert all(abs(sum(q * q for q in o["quat_wxyz"]) - 1.0) < 1e-6 for o in f["objects"])
    stamps = [f["stamp"] for f in frames]
    assert stamps == sorted(stamps)
    moved = max(abs(a - b) for a, b in zip(frames[0]["joint_positions"], frames[-1]["joint_positions"], strict=True))
    assert moved > 0.05, "the recording should show the arm moving while skills ran"


def test_skips_with_the_reason_when_the_interfaces_are_not_built(tmp_path):
    lib = SkillLibrary(tmp_path / "lib")
    add_scripted_primitives(lib, names=["home"])
    env = dict(os.environ, SKILL_RL_ROS_PREFIX=str(tmp_path / "nothing_here"))
    res = stage("--task", str(TASK), "--library", str(lib.root), "--out", str(tmp_path / "out"), env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["status"] == "skipped" and "skill_interfaces is not built" in result["reason"]
    assert not (tmp_path / "out" / "logs").exists(), "nothing may start when ROS is not usable"


def test_bad_arguments_exit_2(tmp_path):
    res = stage("--task", str(tmp_path / "none.task"), "--library", str(tmp_path), "--out", str(tmp_path / "o"),
                timeout=120)
    assert res.returncode == 2 and "task file" in res.stderr and "none.task" in res.stderr
