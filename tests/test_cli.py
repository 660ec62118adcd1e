"""The `skill-rl` command: help, env listing, the demo's run folder, and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import ctypes.util
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
    bad.write_text("episodes: 2\ntasks: [TabletopReach\nseed: 1\n")
    line = one_error_line(cli("demo", "--config", str(bad), f"run_root={tmp_path}"))
    assert str(bad) in line and "line 3" in line
    assert not any(tmp_path.glob("demo-*")), "no run folder for a config that does not load"


def test_unknown_key_exits_2_naming_key(tmp_path):
    line = one_error_line(cli("demo", "epsiodes=2", f"run_root={tmp_path}"))
    assert "'epsiodes'" in line and "did you mean 'episodes'" in line and "valid keys" in line


def test_unknown_key_in_file_exits_2(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("episodes: 1\nvideo_fps: 3\n")
    line = one_error_line(cli("demo", "-c", str(cfg)))
    assert "'video_fps'" in line and str(cfg) in line


def test_wrong_type_exits_2(tmp_path):
    line = one_error_line(cli("demo", "episodes=lots", f"run_root={tmp_path}"))
    assert "'episodes'" in line and "expected int" in line and "'lots'" in line


def test_unknown_env_id_exits_2(tmp_path):
    line = one_error_line(cli("demo", "tasks=[TabletopFly]", f"run_root={tmp_path}"))
    assert "unknown env id 'TabletopFly'" in line and "skill_rl/TabletopLift-v0" in line
    assert not any(tmp_path.iterdir())


def test_missing_config_file_exits_2():
    line = one_error_line(cli("demo", "--config", "/no/such/demo.yaml"))
    assert "/no/such/demo.yaml" in line


@pytest.mark.timeout(300)
def test_demo_debug_writes_run_folder(tmp_path):
    """End to end in a fresh process (as a user runs it); MUJOCO_GL unset to check the CLI picks a backend."""
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "PYOPENGL_PLATFORM", "DISPLAY")}
    env["COLUMNS"] = "200"
    cmd = [sys.executable, "-m", "skill_rl.cli", "demo", "--debug", "--no-progress", "tasks=[TabletopReach]",
           "max_steps=30", f"run_root={tmp_path}", "run_name=t"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=280)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "TabletopReach" in out.stdout

    (run,) = tmp_path.glob("t-*")
    cfg = load_config(DemoConfig, run / "config.yaml")
    assert cfg.debug and cfg.episodes == 1 and cfg.tasks == ["TabletopReach"] and cfg.max_steps == 30

    with open(run / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["tag"] for r in rows} == {"TabletopReach/return", "TabletopReach/success", "TabletopReach/length"}
    assert all(r["step"] == "0" for r in rows)
    assert float(next(r for r in rows if r["tag"] == "TabletopReach/length")["value"]) == 30

    events = list((run / "tb").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].stat().st_size > 0

    summary = json.loads((run / "summary.json").read_text())
    task = summary["tasks"]["TabletopReach"]
    assert task["episodes"] == 1 and 0.0 <= task["success_rate"] <= 1.0
    if ctypes.util.find_library("OSMesa"):  # rendering is expected to work wherever libOSMesa is installed
        assert summary["video_error"] is None, summary["video_error"]
        assert task["video"] == "videos/TabletopReach.mp4"
        assert (run / task["video"]).stat().st_size > 1000
    assert not list(run.rglob(".*tmp*")), "atomic writes left temporary files"
