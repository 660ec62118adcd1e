"""The pure-Python launcher (``python -m skill_rl.ros.up``): starts the graph from a params file, runs a
one-shot sequence, and shuts every node down on SIGINT/SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests._extras import require  # noqa: E402

require("rclpy", extra="ros")

from skill_rl.ros.testing import RosProbe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIM = ROOT / "launch" / "sim.yaml"


def _up(*args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "skill_rl.ros.up", "--config", str(SIM), "--domain-id", os.environ["ROS_DOMAIN_ID"],
                             "--log-dir", str(log), *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_up_starts_the_graph_and_stops_every_node_on_a_signal(tmp_path, sig):
    proc = _up(log=tmp_path)
    probe = RosProbe()
    try:
        probe.wait_arm_state("ACTIVE", 60)
        assert probe.skill_client.wait_for_server(timeout_sec=30)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 3
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        probe.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopped: arm_hal=" in out, out
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"nodes left running: {alive}"


def test_up_runs_a_sequence_and_exits_with_its_error_code(tmp_path):
    proc = _up("--sequence", '[{"skill": "home", "params": {"speed": 1.0}}, {"skill": "no_such_skill"}]', log=tmp_path)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 4, out  # ExecuteSkill UNKNOWN_SKILL, from step 1
    assert "task_executor exited with status 4" in out
    assert "no_such_skill" in (tmp_path / "task_executor.log").read_text()
