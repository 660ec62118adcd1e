"""arm_hal's ``rt_priority``: every thread of the node's process (executor and DDS) runs SCHED_FIFO, which is
what keeps a 500 Hz loop on time on a busy machine (docs/execution.md). Needs the right to set it (root or
CAP_SYS_NICE): skipped otherwise."""

from __future__ import annotations

import json
import os

import pytest

from tests._extras import require  # noqa: E402

require("rclpy", extra="ros")


def _may_set_fifo() -> bool:
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except (PermissionError, OSError):
        return False
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return True


@pytest.mark.skipif(not hasattr(os, "sched_setscheduler") or not _may_set_fifo(),
                    reason="no right to set SCHED_FIFO here (needs root or CAP_SYS_NICE)")
def test_rt_priority_puts_every_thread_of_arm_hal_on_sched_fifo(tmp_path, ros_domain):
    from skill_rl.ros.testing import RosProbe
    from skill_rl.ros.up import Graph

    params = tmp_path / "arm_hal.yaml"
    params.write_text(json.dumps({"arm_hal": {"ros__parameters": {
        "backend": "fake", "robot": "panda", "rate_hz": 100.0, "autostart": True, "rt_priority": 5}}}))
    graph = Graph(params, domain_id=ros_domain, log_dir=tmp_path).start()
    probe = RosProbe()
    try:
        probe.wait_arm_state("ACTIVE", 60)
        pid = graph.procs["arm_hal"].pid
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        policies = {tid: os.sched_getscheduler(tid) for tid in tids}
        assert len(tids) > 1  # the executor and the middleware's threads
        assert set(policies.values()) == {os.SCHED_FIFO}, policies
        assert {os.sched_getparam(tid).sched_priority for tid in tids} == {5}
        assert "SCHED_FIFO priority 5" in (tmp_path / "arm_hal.log").read_text()
    finally:
        probe.close()
        graph.stop(grace=5.0)
