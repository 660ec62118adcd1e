"""The simulated ROS 2 graph over real DDS (loopback only): arm_hal (MuJoCo tabletop world behind the
HAL's SafetyFilter) + skill_server + task_executor, started as processes by ``skill_rl.ros.up.Graph`` from
launch/sim.yaml. One graph for the module; the tests run in file order and each leaves the arm ACTIVE
and at rest, except the last, which kills the skill server.

No timing assertions: every wait is a generous timeout on a condition.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from tests._extras import require  # noqa: E402

require("rclpy", extra="ros")

from skill_rl.ros.env import InterfacesNotBuiltError, ensure_interfaces  # noqa: E402

try:
    ensure_interfaces()
except InterfacesNotBuiltError as e:  # rclpy is there: a missing build is a setup error, not a skip
    pytest.fail(str(e), pytrace=False)

from skill_rl.ros.testing import RosProbe, wait_until  # noqa: E402
from skill_rl.ros.up import Graph  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIM = ROOT / "launch" / "sim.yaml"
STATUS_SUCCEEDED, STATUS_CANCELED, STATUS_ABORTED = 4, 5, 6


@pytest.fixture(scope="module")
def graph(tmp_path_factory, ros_domain):
    logs = tmp_path_factory.mktemp("ros_graph_logs")
    g = Graph(SIM, domain_id=ros_domain, log_dir=logs).start()
    g.logs = logs
    yield g
    g.stop(grace=5.0)


def _log_tail(graph) -> str:
    out = []
    for f in sorted(Path(graph.logs).glob("*.log")):
        out.append(f"--- {f.name} ---\n" + "\n".join(f.read_text(errors="replace").splitlines()[-25:]))
    return "\n".join(out)


@pytest.fixture(scope="module")
def probe(graph):
    p = RosProbe()
    try:
        p.wait_arm_state("ACTIVE", timeout=60)
        wait_until(lambda: p.scene is not None, 30, what="/scene_state")
        assert p.skill_client.wait_for_server(timeout_sec=30), "no /execute_skill server"
        assert p.task_client.wait_for_server(timeout_sec=30), "no /run_task server"
    except AssertionError as e:
        seen = p.describe_graph()
        p.close()
        raise AssertionError(f"{e}\n{seen}; node processes exited: {graph.exited()}\nnode logs:\n{_log_tail(graph)}") from e
    yield p
    p.close()


@pytest.fixture
def arm(graph, probe):
    """Each test starts with every node alive and the arm ACTIVE (and says why when not)."""
    dead = graph.exited()
    assert not dead or set(dead) == {"skill_server"}, f"nodes exited: {dead}\n{_log_tail(graph)}"
    probe.wait_arm_state("ACTIVE", timeout=30)
    probe.wait_server_sees("ACTIVE", timeout=30)
    return probe


def _code(run) -> int:
    return run.result.error_code


def test_pick_place_end_to_end_moves_the_cube_into_the_region(graph, arm):
    """Goal over DDS -> skill server -> joint targets over DDS -> arm_hal's filter -> MuJoCo physics."""
    R = arm.ExecuteSkill.Result
    run = arm.execute("pick_place", {}, timeout=60.0)
    assert run.wait_answer(30), "pick_place goal rejected"
    run.wait_result(90)
    assert run.status == STATUS_SUCCEEDED, (run.status, run.result.message, _log_tail(graph))
    assert _code(run) == R.SUCCESS
    assert len(run.feedback) > 10
    progress = [fb.progress for fb in run.feedback]
    assert progress == sorted(progress) and progress[-1] > 0.5  # (the final feedback may trail the result)
    # Feedback is a stream, not a log (a phase may last less than a step, a message may be dropped), so
    # only the long phases are required.
    seen = set(run.phases)
    assert {"above", "carry", "release"} <= seen and len(seen & {"descend", "close", "lift", "lower"}) >= 2, " ".join(run.phases) + f" ({len(run.feedback)} feedback msgs, {run.result.message})"
    summary = json.loads(run.result.message)
    assert summary["scene_success"] is True and summary["at_rest"] is True
    # Read the world back from arm_hal's own topic (the physics' owner), after the result.
    t = time.monotonic()
    scene = wait_until(lambda: arm.scene if arm.scene and arm.scene["sim_time"] > 0 and time.monotonic() > t + 0.2 else None,
                       10, what="a scene state after the result")
    cube, region = np.array(scene["objects"]["cube"][:3]), np.array(scene["objects"]["region"][:3])
    assert np.all(np.abs(cube[:2] - region[:2]) < 0.05), (cube, region)  # inside the 10 cm region
    assert cube[2] < 0.03  # resting on the table
    assert scene["success"] is True
    assert arm.arm_state["state"] == "ACTIVE" and arm.arm_state["fault"] is None
    diag = wait_until(arm.latest_diagnostic_values, 10, what="/diagnostics")
    assert diag["hal_state"] == "ACTIVE" and diag["fault"] == "" and int(diag["commands_received"]) > 50


def test_goal_while_busy_is_rejected_and_cancel_decelerates_to_rest(arm):
    R = arm.ExecuteSkill.Result
    far = [0.6, -0.1, 0.3, -2.0, 0.2, 2.0, 0.5]  # a long, slow joint move: ~6 s at 0.2 rad/s
    run = arm.execute("home", {"joints": far, "speed": 0.2}, timeout=60.0)
    assert run.wait_answer(30)
    wait_until(lambda: (arm.arm_velocity() or 0.0) > 0.1, 30, what="the arm moving")
    second = arm.execute("pick_place")
    assert second.wait_answer(30) is False  # busy: rejected at the goal callback
    assert run.done.is_set() is False
    moving = arm.arm_velocity()
    t_cancel = time.monotonic()
    arm.cancel(run)
    run.wait_result(30)
    assert run.status == STATUS_CANCELED and _code(run) == R.CANCELED, run.result.message
    assert "at rest" in run.result.message
    # It decelerated (speeds fell from moving to ~0, no jump to zero required) and it holds.
    speeds = [max(abs(v) for v in m.velocity[:7]) for m in arm.joint_states_since(t_cancel)]
    assert moving > 0.1 and speeds and speeds[-1] < 0.02
    q0 = arm.arm_position()
    time.sleep(0.5)
    assert np.max(np.abs(arm.arm_position() - q0)) < 2e-3
    assert arm.arm_state["state"] == "ACTIVE"


def test_unknown_skill_and_bad_params_are_aborted_with_their_codes(arm):
    R = arm.ExecuteSkill.Result
    unknown = arm.execute("fly_to_the_moon").wait_result(30)
    assert unknown.status == STATUS_ABORTED and _code(unknown) == R.UNKNOWN_SKILL
    assert "pick_place" in unknown.result.message  # lists what exists
    bad_json = arm.execute("pick_place", "{not json").wait_result(30)
    assert _code(bad_json) == R.BAD_PARAMS and "JSON" in bad_json.result.message
    bad_key = arm.execute("home", {"sped": 0.3}).wait_result(30)
    assert _code(bad_key) == R.BAD_PARAMS and "speed" in bad_key.result.message
    bad_value = arm.execute("home", {"speed": "fast"}).wait_result(30)
    assert _code(bad_value) == R.BAD_PARAMS


def test_timeout_aborts_with_timeout_and_stops_the_arm(arm):
    R = arm.ExecuteSkill.Result
    run = arm.execute("home", {"joints": [0.0, -0.25, 0.0, -2.35, 0.0, 2.1, 0.785], "speed": 0.05}, timeout=1.0)
    run.wait_result(60)
    assert run.status == STATUS_ABORTED and _code(run) == R.TIMEOUT, run.result.message
    arm.wait_at_rest(tol=0.05)


def test_task_executor_runs_steps_and_stops_at_the_first_failure(arm):
    R = arm.ExecuteSkill.Result
    steps = [{"skill": "home", "params": {"speed": 1.0}}, {"skill": "no_such_skill"}, {"skill": "home"}]
    run = arm.run_task(steps)
    assert run.wait_answer(30)
    run.wait_result(90)
    assert run.status == STATUS_ABORTED
    assert run.result.error_code == R.UNKNOWN_SKILL and run.result.failed_step == 1, run.result.message
    assert {fb.step for fb in run.feedback} <= {0, 1} and 0 in {fb.step for fb in run.feedback}
    ok = arm.run_task([{"skill": "home", "params": {"open_gripper": True}}]).wait_result(90)
    assert ok.status == STATUS_SUCCEEDED and ok.result.error_code == R.SUCCESS and ok.result.failed_step == -1
    bad = arm.run_task("[{\"params\": {}}]").wait_result(30)
    assert bad.result.error_code == R.BAD_PARAMS


def test_estop_latches_fault_aborts_the_goal_and_rejects_goals_until_reset(arm):
    R = arm.ExecuteSkill.Result
    run = arm.execute("home", {"joints": [0.5, -0.1, 0.2, -2.1, 0.1, 2.0, 0.6], "speed": 0.2}, timeout=60.0)
    assert run.wait_answer(30)
    wait_until(lambda: (arm.arm_velocity() or 0.0) > 0.1, 30, what="the arm moving")
    response = arm.call("estop")
    assert response.success and "ESTOP" in response.message
    run.wait_result(30)
    assert run.status == STATUS_ABORTED and _code(run) == R.FAULT, run.result.message
    state = arm.wait_arm_state("FAULT", 10)
    assert state["fault_code"] == "estop"
    arm.wait_at_rest(tol=0.05)  # the HAL holds
    arm.wait_server_sees("FAULT", 10)
    rejected = arm.execute("home")
    assert rejected.wait_answer(30) is False
    time.sleep(0.5)
    assert arm.arm_state["state"] == "FAULT"  # latched: nothing clears it but reset_fault
    reset = arm.call("reset_fault")
    assert reset.success and "re-activated" in reset.message
    arm.wait_arm_state("ACTIVE", 10)
    arm.wait_server_sees("ACTIVE", 10)
    back = arm.execute("home", {"speed": 1.0}).wait_result(60)
    assert back.status == STATUS_SUCCEEDED, back.result.message


def test_nan_command_on_the_topic_is_rejected_and_latches_a_fault(arm):
    q = arm.arm_position()
    bad = q.copy()
    bad[3] = float("nan")
    arm.publish_command(bad, arm.arm_state["joint_names"])
    state = arm.wait_arm_state("FAULT", 15)
    assert state["fault_code"] == "non_finite_command" and "panda_joint4" in state["fault"]
    assert np.max(np.abs(arm.arm_position() - q)) < 0.01  # nothing was sent: it did not move
    diag = wait_until(lambda: (d := arm.latest_diagnostic_values()).get("hal_state") == "FAULT" and d, 10,
                      what="FAULT in /diagnostics")
    assert diag["_level"] == "2" and "NON_FINITE_COMMAND" in diag["_message"]
    arm.wait_server_sees("FAULT", 10)
    assert arm.execute("home").wait_answer(30) is False
    assert arm.call("reset_fault").success
    arm.wait_arm_state("ACTIVE", 10)


def test_lifecycle_deactivate_and_activate_drive_the_hal(arm):
    assert arm.change_state(4)  # deactivate
    state = arm.wait_arm_state("INACTIVE", 10)
    assert state["lifecycle"] == "inactive"
    arm.wait_server_sees("INACTIVE", 10)
    assert arm.execute("home").wait_answer(30) is False  # not ACTIVE: rejected
    assert arm.change_state(3)  # activate: re-seeded from the measured state
    assert arm.wait_arm_state("ACTIVE", 10)["lifecycle"] == "active"


def test_executor_dies_the_arm_decelerates_holds_then_faults(graph, arm):
    """Kill the skill server mid-motion: no fresh commands -> arm_hal's watchdog brakes to rest; its heartbeat
    stops too -> once at rest, FAULT (HEARTBEAT) latches: nothing moves until reset_fault."""
    run = arm.execute("home", {"joints": [0.6, -0.1, 0.3, -2.0, 0.2, 2.0, 0.5], "speed": 0.3}, timeout=60.0)
    assert run.wait_answer(30)
    wait_until(lambda: (arm.arm_velocity() or 0.0) > 0.1, 30, what="the arm moving")
    t_kill = time.monotonic()
    graph.kill("skill_server")
    state = arm.wait_arm_state("FAULT", 20)
    t_fault = time.monotonic()
    assert state["fault_code"] == "heartbeat" and "/skill_server/heartbeat" in state["fault"], state
    # It decelerated (no jump to zero) and was at rest before the fault latched: hold, then fault.
    speeds = [max(abs(v) for v in m.velocity[:7]) for m in arm.joint_states_since(t_kill)]
    assert speeds and max(speeds) > 0.05
    before_fault = [max(abs(v) for v in m.velocity[:7]) for (r, m) in list(arm.joint_states) if t_fault - 0.15 <= r <= t_fault - 0.05]
    assert before_fault and max(before_fault) < 0.05, before_fault
    q0 = arm.arm_position()
    time.sleep(0.5)
    assert np.max(np.abs(arm.arm_position() - q0)) < 2e-3  # holds
    arm.publish_command(q0 + 0.05, state["joint_names"])
    time.sleep(0.3)
    assert arm.arm_state["state"] == "FAULT" and np.max(np.abs(arm.arm_position() - q0)) < 2e-3  # latched
    reset = arm.call("reset_fault")  # the operator: the arm comes back (the executor is still gone)
    assert reset.success and "re-activated" in reset.message
    assert arm.wait_arm_state("ACTIVE", 10)["fault"] is None
