"""The `skill-rl` command: help, env listing, the demo's stages and run folder, and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import ctypes.util
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skill_rl import envs
from skill_rl.cli import app
from skill_rl.config import load_config
from skill_rl.demo import DemoConfig

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_help_lists_commands():
    res = cli("--help")
    assert res.exit_code == 0
    assert "envs" in res.output and "demo" in res.output


def test_envs_lists_every_id_with_description():
    res = cli("envs")
    assert res.exit_code == 0, res.output
    for env_id in envs.list_env_ids():
        assert env_id in res.output
        assert envs.describe(env_id) in res.output


def test_envs_narrow_terminal_keeps_ids_whole():
    res = runner.invoke(app, ["envs"], env={"COLUMNS": "60"})
    assert res.exit_code == 0
    for env_id in envs.list_env_ids():
        assert env_id in res.output


def test_demo_config_file_matches_dataclass_defaults():
    assert load_config(DemoConfig, REPO / "configs" / "demo.yaml") == DemoConfig()


def one_error_line(res) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_malformed_config_exits_2_naming_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("demos: 2\nparams: {obj: cube_red\nseed: 1\n")
    line = one_error_line(cli("demo", "--config", str(bad), f"run_root={tmp_path}"))
    assert str(bad) in line and "line 3" in line
    assert not any(tmp_path.glob("demo-*")), "no run folder for a config that does not load"


def test_unknown_key_exits_2_naming_key(tmp_path):
    line = one_error_line(cli("demo", "demoss=2", f"run_root={tmp_path}"))
    assert "'demoss'" in line and "did you mean 'demos'" in line and "valid keys" in line


def test_unknown_key_in_file_exits_2(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("demos: 1\nvideo_fps: 3\n")
    line = one_error_line(cli("demo", "-c", str(cfg)))
    assert "'video_fps'" in line and str(cfg) in line


def test_wrong_type_exits_2(tmp_path):
    line = one_error_line(cli("demo", "demos=lots", f"run_root={tmp_path}"))
    assert "'demos'" in line and "expected int" in line and "'lots'" in line
    line = one_error_line(cli("demo", "ros=maybe", f"run_root={tmp_path}"))
    assert "'ros'" in line and "'auto'" in line


def test_unknown_task_file_exits_2(tmp_path):
    line = one_error_line(cli("demo", "task=no_such.task", f"run_root={tmp_path}"))
    assert "no_such.task not found" in line
    assert not any(tmp_path.iterdir())


def test_bad_primitive_call_exits_2_before_a_run(tmp_path):
    """A call the task's world cannot bind fails in seconds, naming the world's objects, before any run folder."""
    line = one_error_line(cli("demo", "params={obj: cube_green}", f"run_root={tmp_path}"))
    assert "cube_green" in line and "place_then_lift.task" in line and "cube_red" in line
    line = one_error_line(cli("demo", "primitive=fly", f"run_root={tmp_path}"))
    assert "fly" in line and "pick_place" in line
    line = one_error_line(cli("demo", "demos=0", f"run_root={tmp_path}"))
    assert "'demos' must be at least 1" in line
    assert not any(tmp_path.iterdir())


def test_missing_config_file_exits_2():
    line = one_error_line(cli("demo", "--config", "/no/such/demo.yaml"))
    assert "/no/such/demo.yaml" in line


@pytest.mark.timeout(600)
def test_demo_debug_walks_the_path(tmp_path):
    """``skill-rl demo --debug`` end to end in a fresh process (as a user runs it; MUJOCO_GL unset to check the
    CLI picks a backend). The ROS 2 interfaces are pointed at an empty prefix (a wheel install where they are
    not built): the ROS stage must skip with the reason and the demo still finish. The learned lift's success
    is not asserted (300 steps), only that every stage ran, the library holds it and the plan used it."""
    from skill_rl.demo import STAGES
    from skill_rl.library import SkillLibrary

    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM", "DISPLAY")}
    env["COLUMNS"] = "200"
    env["SKILL_RL_ROS_PREFIX"] = str(tmp_path / "no_ros_install")
    cmd = [sys.executable, "-m", "skill_rl.cli", "demo", "--debug", "--no-progress", f"run_root={tmp_path}",
           "run_name=t"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=580)
    assert out.returncode == 0, out.stdout + out.stderr
    for title in STAGES.values():
        assert title in out.stdout, out.stdout

    (run,) = tmp_path.glob("t-*")
    cfg = load_config(DemoConfig, run / "config.yaml")
    assert cfg.debug and (cfg.demos, cfg.bc_steps, cfg.eval_episodes) == (8, 300, 3)

    summary = json.loads((run / "summary.json").read_text())
    stages = summary["stages"]
    assert list(stages) == list(STAGES)
    for s in stages.values():
        assert s["result"] and s["seconds"] >= 0
    assert stages["demos"]["demos"] == 8 and stages["demos"]["ok"]
    assert stages["bc"]["eval_episodes"] == 3 and 0.0 <= stages["bc"]["success_rate"] <= 1.0

    # The learned entry sits in the run's library beside the scripted primitives, without the scripted lift.
    assert stages["library"]["entry"] == "lift_red_bc@v1" and "lift_red_bc@v1" in stages["library"]["result"]
    lib = SkillLibrary(run / "library")
    keys = {e.key for e in lib.list()}
    assert "lift_red_bc@v1" in keys and "pick_place@v1" in keys and "lift@v1" not in keys
    assert lib.get("lift_red_bc").implements[0] == "lift"

    # The planner used it: the plan's lift step ran the learned entry (whether or not it lifted the cube).
    plan = stages["plan"]
    assert "lift_red_bc@v1" in plan["skills_used"] and "pick_place@v1" in plan["skills_used"]
    assert any(step.startswith("lift_red_bc(") for step in plan["executed"])
    trace = json.loads((run / plan["trace"]).read_text())
    assert {d["skill"] for d in trace["decisions"]} == set(plan["skills_used"])
    assert summary["success"] == plan["ok"] == trace["success"]

    ros = stages["ros"]
    assert ros["ok"] is None and ros["result"].startswith("skipped: "), ros
    if importlib.util.find_spec("rclpy") is not None:
        assert "skill_interfaces is not built" in ros["result"]

    with open(run / "metrics.csv", newline="") as f:
        tags = {r["tag"] for r in csv.DictReader(f)}
    assert {f"{k}/seconds" for k in STAGES} <= tags
    assert {"demos/count", "bc/success_rate", "plan/success", "bc/train/nll"} <= tags
    events = list((run / "tb").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0

    if ctypes.util.find_library("OSMesa"):  # rendering is expected to work wherever libOSMesa is installed
        assert summary["video_error"] is None, summary["video_error"]
        for key in ("demos", "bc", "plan"):
            assert (run / stages[key]["video"]).stat().st_size > 1000, key
    assert not list(run.rglob(".*tmp*")), "atomic writes left temporary files"
