"""arm_hal's executor heartbeat watch over real DDS (loopback, a leased domain): armed by the first heartbeat
only, with a start-up grace after it, then the normal timeout; armed across another fault's reset (fake
backend: no physics needed)."""

from __future__ import annotations

import json
import time

from tests._extras import require

require("rclpy", extra="ros")

from skill_rl.ros.testing import RosProbe, wait_until  # noqa: E402
from skill_rl.ros.up import Graph  # noqa: E402

TOPIC = "/test_executor/heartbeat"


def test_heartbeat_watch_arms_at_the_first_beat_and_allows_a_startup_grace(tmp_path, ros_domain):
    params = tmp_path / "arm_hal.yaml"
    params.write_text(json.dumps({"arm_hal": {"ros__parameters": {
        "backend": "fake", "robot": "panda", "autostart": True, "heartbeat_topic": TOPIC,
        "heartbeat_timeout_s": 0.2, "heartbeat_startup_grace_s": 3.0}}}))
    graph = Graph(params, domain_id=ros_domain, log_dir=tmp_path).start()
    probe = RosProbe()
    try:
        probe.wait_arm_state("ACTIVE", 60)
        # No executor yet: silence before the first heartbeat is not a death (15x the timeout).
        time.sleep(3.0)
        assert probe.arm_state["state"] == "ACTIVE", (probe.arm_state, probe.describe_graph())
        assert probe.latest_diagnostic_values().get("heartbeat") == "not heard yet", probe.latest_diagnostic_values()
        beat = time.monotonic()
        probe.publish_heartbeat(TOPIC)
        # Start-up grace: 1 s of silence (5x the timeout) right after the first beat is tolerated ...
        time.sleep(1.0)
        assert probe.arm_state["state"] == "ACTIVE", probe.arm_state
        probe.wait_heartbeat_armed(5)  # /diagnostics says so (2 Hz)
        # ... then the silence outlasts the grace: hold, then FAULT (HEARTBEAT).
        state = probe.wait_arm_state("FAULT", 30)
        assert state["fault_code"] == "heartbeat" and TOPIC in state["fault"], state
        assert time.monotonic() - beat > 3.0  # not before the grace ended
        # After reset the watch waits for the next first beat again; steady beats keep the arm ACTIVE.
        assert probe.call("reset_fault").success
        probe.wait_arm_state("ACTIVE", 10)
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            probe.publish_heartbeat(TOPIC)
            time.sleep(0.05)
        assert probe.arm_state["state"] == "ACTIVE", probe.arm_state
        wait_until(lambda: probe.arm_state.get("state") == "FAULT", 30, what="FAULT once the beats stop")
        # Another fault's reset keeps the watch armed: an executor that dies right after it (before its next
        # beat) still faults the arm. (Before: a reset disarmed the watch until the next beat, and a skill server
        # killed within 0.1 s of a reset was never noticed: the arm held, ACTIVE, for good.)
        assert probe.call("reset_fault").success
        probe.wait_arm_state("ACTIVE", 10)
        for _ in range(20):  # armed again by a new executor's beats
            probe.publish_heartbeat(TOPIC)
            time.sleep(0.05)
        assert probe.call("estop").success
        probe.wait_arm_state("FAULT", 10)
        probe.publish_heartbeat(TOPIC)  # its last beat, then the reset, then silence
        assert probe.call("reset_fault").success
        probe.wait_arm_state("ACTIVE", 10)  # (the start-up grace of the beats above still runs: > 1 s ACTIVE)
        state = probe.wait_arm_state("FAULT", 30)
        assert state["fault_code"] == "heartbeat", state
    finally:
        probe.close()
        graph.stop(grace=5.0)
