"""benchmarks/ros_latency.py runs end to end (arm_hal with the fake backend over real DDS) and writes its
keys. A smoke test: the figures themselves are measured, never asserted (the machine is shared)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._extras import require  # noqa: E402

require("rclpy", extra="ros")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "ros_latency.py"


def _run(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "ros_latency.json"
    env = dict(os.environ, ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    # The script leases a ROS domain of its own (DomainLease): nothing to share with other graphs.
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out), *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def _check_case(case: dict, rate: float) -> None:
    assert case["rate_hz"] == rate
    assert case["sent"] > 0 and case["received"] + case["dropped"] == case["sent"]
    assert case["applied"] + case["superseded"] == case["received"]
    assert case["latency_ms"]["n"] == case["applied"] > 0
    lat = case["latency_ms"]
    assert 0.0 < lat["p50"] <= lat["p99"] <= lat["max"]
    # The backend write comes after the arrival, which comes after the send: causality, not speed.
    assert case["transport_ms"]["p50"] > 0.0 and case["queue_ms"]["p50"] >= 0.0
    assert case["loop"]["cycles"] > 0 and case["loop"]["jitter_ms"]["n"] == case["loop"]["cycles"] - 1
    assert case["arm_state_at_end"] == "ACTIVE" and case["fault_at_end"] is None


def test_quick_run_writes_every_key(tmp_path):
    data = _run(tmp_path, "--no-load", "--rates", "100", "500", "--duration", "2")
    for key in ("latency_p99_ms", "latency_p50_ms", "transport_p99_ms", "loop_jitter_p50_ms", "loop_jitter_p99_ms",
                "dropped_commands", "superseded_commands", "meets_target", "cases", "machine", "target"):
        assert key in data, key
    assert data["headline_case"] == {"rate_hz": 500.0, "load": False, "sender": "timer", "write": "command",
                                     "rt_priority": 0}
    assert set(data["variants"]) == {"500hz_idle_write_on_command_rt0"}
    assert isinstance(data["latency_p99_ms"], float) and data["latency_p99_ms"] > 0
    assert data["latency_p99_ms_under_load"] is None  # --no-load
    assert [c["rate_hz"] for c in data["cases"]] == [100.0, 500.0]
    for case in data["cases"]:
        _check_case(case, case["rate_hz"])


@pytest.mark.slow
def test_quick_run_under_load_with_both_write_modes_and_senders(tmp_path):
    data = _run(tmp_path, "--rates", "500", "--write", "both", "--sender", "both")
    cases = data["cases"]
    assert len(cases) == 8  # 2 write modes x 2 senders x (idle, load)
    assert {(c["write"], c["sender"], c["load"]) for c in cases} == {
        (w, s, ld) for w in ("command", "cycle") for s in ("timer", "state") for ld in (False, True)}
    assert all(c["load_processes"] == (os.cpu_count() or 1) for c in cases if c["load"])
    assert data["latency_p99_ms_under_load"] is not None
    for case in cases:
        _check_case(case, 500.0)
