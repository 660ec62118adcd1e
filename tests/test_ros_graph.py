"""The simulated ROS 2 graph over real DDS (loopback only): arm_hal (MuJoCo tabletop world behind the
HAL's SafetyFilter) + skill_server (skill-library entries: here the scripted primitives) + task_executor (the
planner), started as processes by ``skill_rl.ros.up.Graph`` from launch/sim.yaml. One graph for the module; the
tests run in file order and each leaves the arm ACTIVE, free and at rest (the world reset when a test moved
the cube), except the last, which kills the skill server.

No timing assertions: every wait is a generous timeout on a condition.
"""

from __future__ import annotations

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
        wait_until(lambda: p.objects is not None, 30, what="/object_states")
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


def _cube(arm) -> np.ndarray:
    return np.array(arm.objects["objects"]["cube"]["pos"])


def _fresh_world(arm, seed: int = 0) -> None:
    """The cube back where seed ``seed`` puts it, the arm at home, idle."""
    res = arm.reset_world(seed)
    assert res.success, res.message
    t = time.time()
    wait_until(lambda: arm.objects["stamp"] > t + 0.1, 10, what="object states after the reset")
    arm.wait_arm_state("ACTIVE", 10)
    arm.wait_server_sees("ACTIVE", 10)


def _slow_reach(arm, timeout: float = 60.0):
    """A long, slow Cartesian move (about 8 s at 3 cm/s) to test what happens while the arm moves."""
    run = arm.execute("reach", {"xyz": [0.25, -0.2, 0.35], "speed": 0.03}, timeout=timeout)
    assert run.wait_answer(30), arm.server_status.get("last_rejection")
    wait_until(lambda: (arm.arm_velocity() or 0.0) > 0.02, 30, what="the arm moving")
    return run


def test_pick_place_end_to_end_moves_the_cube_into_the_region(graph, arm):
    R = arm.ExecuteSkill.Result
    run = arm.execute("pick_place", {"obj": "cube", "target": "region"}, timeout=60.0)
    assert run.wait_answer(30), f"pick_place goal rejected: {arm.server_status.get('last_rejection')}"
    run.wait_result(90)
    assert run.status == STATUS_SUCCEEDED, (run.status, run.result.message, _log_tail(graph))
    assert _code(run) == R.SUCCESS and run.result.at_rest and run.result.steps > 20
    assert len(run.feedback) > 10
    progress = [fb.progress for fb in run.feedback]
    assert progress == sorted(progress) and progress[-1] > 0.1  # (the final feedback may trail the result)
    seen = set(run.phases)
    assert {"above", "carry", "release"} <= seen, " ".join(run.phases)
    # The typed result carries the perceived world at the end, in ROS's quaternion order (x, y, z, w).
    final = {o.name: o for o in run.result.objects}
    assert {"cube", "region"} <= set(final)
    # Read the world back from arm_hal's own perception stream, after the result.
    t = time.monotonic()
    wait_until(lambda: arm.objects["stamp"] > time.time() - 0.5 and time.monotonic() > t + 0.2, 10,
               what="object states after the result")
    cube, region = _cube(arm), np.array(arm.objects["objects"]["region"]["pos"])
    assert np.all(np.abs(cube[:2] - region[:2]) < 0.05), (cube, region)  # inside the 10 cm region
    assert cube[2] < 0.03  # resting on the table
    assert arm.arm_state["state"] == "ACTIVE" and arm.arm_state["fault"] is None and arm.arm_state["owner"] == ""
    diag = wait_until(arm.latest_diagnostic_values, 10, what="/diagnostics")
    assert diag["hal_state"] == "ACTIVE" and diag["fault"] == "" and int(diag["commands_received"]) > 20
    _fresh_world(arm)


@pytest.mark.parametrize("skill, params, timeout, reason", [
    ("fly_to_the_moon", {}, 0.0, "unknown skill 'fly_to_the_moon'"),
    ("push", {"obj": "cube", "target_xy": [2.0, 2.0]}, 0.0, "target_xy.x=2 m is out of range: valid [-0.45, 0.45]"),
    ("push", {"obj": "cube", "target_xy": [-1.5, 0.0]}, 0.0, "target_xy.x=-1.5 m is out of range"),
    ("push", {"obj": "cube", "target_xy": [1e30, 0.0]}, 0.0, "out of range"),
    ("push", {"obj": "cube", "target_xy": [0.449, 0.0]}, 0.0, "outside the arm's workspace"),
    ("pick_place", {"obj": "cube", "target": "moon"}, 0.0, "target='moon' is not an object of this scene"),
    ("pick_place", {"obj": "cube"}, 0.0, "target"),
    ("home", {"sped": 0.3}, 0.0, "sped"),
    ("home", {"speed": "fast"}, 0.0, "speed"),
    ("home", {}, float("nan"), "timeout must be >= 0"),
    ("home", {}, -1.0, "timeout must be >= 0"),
], ids=["unknown", "place_2_2", "push_behind_base", "push_1e30", "outside_hal_workspace", "unknown_object",
        "missing_param", "unknown_param", "wrong_type", "nan_timeout", "negative_timeout"])
def test_invalid_goals_are_rejected_up_front_with_the_reason_and_nothing_moves(arm, skill, params, timeout, reason):
    """The defects: out-of-range targets were accepted and drove the cube off the table (or ran 30 s); a NaN
    timeout meant "default"; unknown skills were accepted, then aborted. Now the goal callback rejects them,
    the reason names the parameter and its valid range (SkillServerStatus.last_rejection), nothing moves."""
    q, cube = arm.arm_position(), _cube(arm)
    run = arm.execute(skill, params, timeout=timeout)
    assert run.wait_answer(30) is False, f"{skill} {params} was accepted"
    wait_until(lambda: reason in arm.server_status.get("last_rejection", ""), 10,
               what=f"the rejection reason {reason!r} (status {arm.server_status.get('last_rejection')!r})")
    if skill == "fly_to_the_moon":
        assert "pick_place" in arm.server_status["last_rejection"]  # lists what exists
    time.sleep(0.3)
    assert np.max(np.abs(arm.arm_position() - q)) < 2e-3 and np.linalg.norm(_cube(arm) - cube) < 2e-3
    assert arm.arm_state["owner"] == ""


def test_goal_while_busy_is_rejected_and_cancel_decelerates_to_rest(arm):
    R = arm.ExecuteSkill.Result
    run = _slow_reach(arm)
    second = arm.execute("home")
    assert second.wait_answer(30) is False  # busy: rejected at the goal callback
    assert "busy" in arm.server_status["last_rejection"]
    assert run.done.is_set() is False
    moving = arm.arm_velocity()
    t_cancel = time.monotonic()
    arm.cancel(run)
    run.wait_result(30)
    assert run.status == STATUS_CANCELED and _code(run) == R.CANCELED, run.result.message
    assert run.result.at_rest
    # It decelerated (speeds fell from moving to ~0, no jump to zero required) and it holds.
    speeds = [max(abs(v) for v in m.velocity[:7]) for m in arm.joint_states_since(t_cancel)]
    assert moving > 0.02 and speeds and speeds[-1] < 0.02
    q0 = arm.arm_position()
    time.sleep(0.5)
    assert np.max(np.abs(arm.arm_position() - q0)) < 2e-3
    assert arm.arm_state["state"] == "ACTIVE" and arm.arm_state["owner"] == ""
    assert arm.execute("home", {"speed": 1.0}).wait_result(60).status == STATUS_SUCCEEDED


def test_cancel_stops_the_gripper_too(arm):
    """The defect: a cancel during `release` left the gripper opening after CANCELED. Cancel while the fingers
    close on the cube: once CANCELED they stay where they are."""
    R = arm.ExecuteSkill.Result
    run = arm.execute("pick_place", {"obj": "cube", "target": "region"}, timeout=60.0)
    assert run.wait_answer(30)
    wait_until(lambda: "close" in run.phases, 30, what="the close phase")
    arm.cancel(run)
    run.wait_result(30)
    assert _code(run) == R.CANCELED, run.result.message
    width = arm.gripper_width()
    time.sleep(1.0)
    assert abs(arm.gripper_width() - width) < 1e-3, "the fingers kept moving after CANCELED"
    _fresh_world(arm)


def test_a_stop_keeps_the_grasp(arm):
    """Every goal ends with a stop (the arm brakes and holds, moving fingers stop where they are); fingers that
    hold an object keep squeezing it. (The first version froze the fingers' target at their opening, the squeeze
    went to zero, and a lifted cube slipped out during the stop: lift succeeded, then failed its check.)"""
    R = arm.ExecuteSkill.Result
    run = arm.execute("lift", {"obj": "cube"}, timeout=60.0).wait_result(90)
    assert _code(run) == R.SUCCESS and run.result.at_rest, run.result.message
    time.sleep(1.0)
    assert _cube(arm)[2] > 0.1, "the lifted cube slipped out of the hand after the stop"
    _fresh_world(arm)


def test_timeout_aborts_with_timeout_and_stops_the_arm(arm):
    R = arm.ExecuteSkill.Result
    run = arm.execute("reach", {"xyz": [0.25, -0.2, 0.35], "speed": 0.03}, timeout=1.0)
    run.wait_result(60)
    assert run.status == STATUS_ABORTED and _code(run) == R.TIMEOUT, run.result.message
    assert run.result.at_rest
    arm.wait_at_rest(tol=0.05)
    assert arm.execute("home", {"speed": 1.0}).wait_result(60).status == STATUS_SUCCEEDED


TASK = """(define (problem cube_to_region) (:language "put the cube into the region")
  (:objects cube - cube_red region - region) (:goal (In cube region)))"""


def test_task_executor_plans_over_the_library_and_runs_the_task(arm):
    R = arm.RunTask.Result
    run = arm.run_task(task=TASK)
    assert run.wait_answer(30)
    run.wait_result(120)
    assert run.status == STATUS_SUCCEEDED and _code(run) == R.SUCCESS, run.result.message
    assert list(run.result.plan) == ["pick_place(obj=cube, target=region)"] and run.result.steps_run == 1
    assert any(list(fb.plan) == list(run.result.plan) for fb in run.feedback)  # the plan is in the feedback
    assert {fb.skill for fb in run.feedback if fb.skill} == {"pick_place@v1"}
    done = arm.run_task(task=TASK).wait_result(60)  # the goal already holds: nothing to do
    assert done.result.error_code == R.SUCCESS and done.result.steps_run == 0
    _fresh_world(arm)


def test_task_errors_have_their_codes(arm):
    R = arm.RunTask.Result
    bad = arm.run_task(task="(define (problem x) (:goal").wait_result(30)
    assert bad.result.error_code == R.BAD_TASK and "<RunTask goal>" in bad.result.message
    alien = arm.run_task(task=TASK.replace("cube - cube_red", "cube_green - cube_green")
                         .replace("In cube", "In cube_green")).wait_result(30)
    assert alien.result.error_code == R.BAD_TASK and "cube_green" in alien.result.message
    steps = [{"skill": "home", "params": {"speed": 1.0}}, {"skill": "no_such_skill"}, {"skill": "home"}]
    run = arm.run_task(steps).wait_result(90)  # the fixed-list form, without planning
    assert run.status == STATUS_ABORTED
    assert run.result.error_code == R.UNKNOWN_SKILL and run.result.failed_step == 1, run.result.message
    both = arm.run_task(steps, task=TASK)  # exactly one of task, task_file and steps
    assert both.wait_answer(30) is False


def test_an_injected_drop_is_detected_over_ros_and_the_plan_repaired(arm):
    """The skill server lets go of the cube mid-carry (fault injection): the executor sees on the perceived state
    that the step's effect is missing, replans and sends pick_place again; the task ends with the cube in."""
    R = arm.RunTask.Result
    arm.set_parameters({"inject_drops": 1}, node="/skill_server")
    run = arm.run_task(task=TASK)
    assert run.wait_answer(30)
    run.wait_result(180)
    assert _code(run) == R.SUCCESS, run.result.message
    assert run.result.replans >= 1 and run.result.steps_run >= 2, run.result
    assert max(fb.replans for fb in run.feedback) >= 1
    _fresh_world(arm)


def test_estop_mid_plan_ends_the_task_naming_the_fault_and_sends_no_further_step(arm):
    R = arm.RunTask.Result
    run = arm.run_task(task=TASK)
    assert run.wait_answer(30)
    wait_until(lambda: any(fb.phase in ("descend", "close", "lift", "carry") for fb in run.feedback), 60,
               what="the pick_place step running")
    assert arm.call("estop").success
    run.wait_result(60)
    assert run.status == STATUS_ABORTED and _code(run) == R.FAULT, run.result.message
    assert "ESTOP" in run.result.message.upper() and run.result.steps_run == 1
    time.sleep(1.0)
    assert arm.server_status["busy"] is False  # nothing was sent after the fault
    assert arm.call("reset_fault").success
    arm.wait_arm_state("ACTIVE", 10)
    _fresh_world(arm)


def test_stale_perception_is_refused_up_front_and_aborts_a_running_skill(arm):
    R = arm.ExecuteSkill.Result
    arm.set_parameters({"publish_object_states": False})
    try:
        time.sleep(1.0)  # older than the 0.5 s limit
        refused = arm.execute("pick_place", {"obj": "cube", "target": "region"})
        assert refused.wait_answer(30) is False
        assert "old" in arm.server_status["last_rejection"], arm.server_status
    finally:
        arm.set_parameters({"publish_object_states": True})
    t = time.time()
    wait_until(lambda: arm.objects["stamp"] > t + 0.2, 10, what="fresh object states")
    run = _slow_reach(arm)
    arm.set_parameters({"publish_object_states": False})
    try:
        run.wait_result(30)
        assert _code(run) == R.STALE_PERCEPTION and "old data" in run.result.message, run.result.message
        assert run.result.at_rest
    finally:
        arm.set_parameters({"publish_object_states": True})
    t = time.time()
    wait_until(lambda: arm.objects["stamp"] > t + 0.2, 10, what="fresh object states")
    assert arm.execute("home", {"speed": 1.0}).wait_result(60).status == STATUS_SUCCEEDED


def test_deactivating_mid_goal_aborts_with_arm_inactive_not_fault(arm):
    """The defect: deactivation aborted with code FAULT and the message "INACTIVE (no fault)"."""
    R = arm.ExecuteSkill.Result
    run = _slow_reach(arm)
    assert arm.change_state(4)  # deactivate
    run.wait_result(30)
    assert _code(run) == R.ARM_INACTIVE and "INACTIVE" in run.result.message, run.result.message
    state = arm.wait_arm_state("INACTIVE", 10)
    assert state["lifecycle"] == "inactive"
    arm.wait_server_sees("INACTIVE", 10)
    assert arm.execute("home").wait_answer(30) is False  # not ACTIVE: rejected
    assert arm.change_state(3)  # activate: re-seeded from the measured state
    assert arm.wait_arm_state("ACTIVE", 10)["lifecycle"] == "active"


def test_estop_latches_fault_aborts_the_goal_and_rejects_goals_until_reset(arm):
    R = arm.ExecuteSkill.Result
    run = _slow_reach(arm)
    response = arm.call("estop")
    assert response.success and "ESTOP" in response.message
    run.wait_result(30)
    assert run.status == STATUS_ABORTED and _code(run) == R.FAULT, run.result.message
    state = arm.wait_arm_state("FAULT", 10)
    assert state["fault_code"] == "estop" and state["motion"] == "hold"
    wait_until(lambda: arm.arm_state.get("lifecycle") == "inactive", 10, what="the lifecycle inactive while faulted")
    arm.wait_at_rest(tol=0.05)  # the HAL holds
    arm.wait_server_sees("FAULT", 10)
    assert arm.execute("home").wait_answer(30) is False
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
    with arm.owning("/test_probe"):
        arm.publish_command(bad, arm.arm_state["joint_names"])
        state = arm.wait_arm_state("FAULT", 15)
    assert state["fault_code"] == "non_finite_command" and "panda_joint4" in state["fault"]
    assert np.max(np.abs(arm.arm_position() - q)) < 0.01  # nothing was sent: it did not move
    diag = wait_until(lambda: (d := arm.latest_diagnostic_values()).get("fault_code") == "non_finite_command" and d,
                      10, what="the NON_FINITE_COMMAND fault in /diagnostics")
    assert diag["_level"] == "2" and "NON_FINITE_COMMAND" in diag["_message"]
    arm.wait_server_sees("FAULT", 10)
    assert arm.execute("home").wait_answer(30) is False
    assert arm.call("reset_fault").success
    arm.wait_arm_state("ACTIVE", 10)


def test_executor_dies_the_arm_decelerates_holds_then_faults(graph, arm):
    """Kill the skill server mid-motion: no fresh commands -> arm_hal's watchdog brakes to rest; its heartbeat
    stops too -> once at rest, FAULT (HEARTBEAT) latches: nothing moves until reset_fault."""
    arm.wait_heartbeat_armed(30)  # (the watch arms at the first beat that reaches arm_hal)
    _slow_reach(arm)
    t_kill = time.monotonic()
    graph.kill("skill_server")
    try:
        state = arm.wait_arm_state("FAULT", 30)
    except AssertionError as e:
        raise AssertionError(f"{e}\n{arm.describe_graph()}\n{_log_tail(graph)}") from None
    t_fault = time.monotonic()
    assert state["fault_code"] == "heartbeat" and "/skill_server/heartbeat" in state["fault"], state
    # It decelerated (no jump to zero) and was at rest before the fault latched: hold, then fault.
    speeds = [max(abs(v) for v in m.velocity[:7]) for m in arm.joint_states_since(t_kill)]
    assert speeds and max(speeds) > 0.02
    before_fault = [max(abs(v) for v in m.velocity[:7]) for (r, m) in list(arm.joint_states) if t_fault - 0.15 <= r <= t_fault - 0.05]
    assert before_fault and max(before_fault) < 0.05, before_fault
    q0 = arm.arm_position()
    time.sleep(0.5)
    assert np.max(np.abs(arm.arm_position() - q0)) < 2e-3  # holds
    reset = arm.call("reset_fault")  # the operator: the arm comes back (the executor is still gone)
    assert reset.success and "re-activated" in reset.message
    assert arm.wait_arm_state("ACTIVE", 10)["fault"] is None
