"""arm_hal alone over real DDS (loopback, a leased domain), the simulated world TabletopPickPlace-v0 behind its
SafetyFilter: command arbitration, a FAULT visible in the lifecycle, the gripper action, the world reset and
the typed perception stream. One graph for the module; tests run in file order and leave the arm ACTIVE, free
and at rest. No timing assertions: every wait is a generous timeout on a condition."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from tests._extras import require

require("rclpy", extra="ros")

from skill_rl.ros.testing import RosProbe, wait_until  # noqa: E402
from skill_rl.ros.up import Graph  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIM = ROOT / "launch" / "sim.yaml"


@pytest.fixture(scope="module")
def graph(tmp_path_factory, ros_domain):
    logs = tmp_path_factory.mktemp("ros_arm_logs")
    g = Graph(SIM, nodes=["arm_hal"], domain_id=ros_domain, log_dir=logs,
              overrides={"arm_hal": {"heartbeat_topic": ""}}).start()  # no executor in this graph
    g.logs = logs
    yield g
    g.stop(grace=5.0)


@pytest.fixture(scope="module")
def probe(graph):
    p = RosProbe()
    try:
        p.wait_arm_state("ACTIVE", timeout=60)
        wait_until(lambda: p.objects is not None, 30, what="/object_states")
        wait_until(p.latest_diagnostic_values, 30, what="/diagnostics")
    except AssertionError as e:
        seen = p.describe_graph()
        p.close()
        logs = "\n".join(f.read_text(errors="replace")[-3000:] for f in Path(graph.logs).glob("*.log"))
        raise AssertionError(f"{e}\n{seen}\n{logs}") from e
    yield p
    p.close()


@pytest.fixture
def arm(graph, probe):
    assert not graph.exited(), graph.exited()
    probe.wait_arm_state("ACTIVE", 30)
    return probe


def _names(arm) -> list[str]:
    return list(arm.arm_state["joint_names"])


def _diag_when(arm, pred, what: str, timeout: float = 10.0) -> dict[str, str]:
    return wait_until(lambda: (d := arm.latest_diagnostic_values()) and pred(d) and d, timeout, what=what)


def _stream(arm, target, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        arm.publish_trajectory([target], _names(arm))
        time.sleep(0.02)


def test_object_states_are_typed_stamped_poses_with_ros_quaternions(arm):
    first = arm.objects
    assert first["source"] == "sim" and {"cube", "region"} <= set(first["objects"])
    cube = first["objects"]["cube"]
    assert cube["kind"] == "cube" and 0.0 < cube["pos"][2] < 0.05  # resting on the table top (z = 0)
    for o in first["objects"].values():
        assert math.isclose(float(np.linalg.norm(o["quat_xyzw"])), 1.0, abs_tol=1e-6)
    # xyzw: an upright cube's quaternion is (0, 0, sin(yaw/2), cos(yaw/2)): x and y near 0
    assert abs(cube["quat_xyzw"][0]) < 1e-3 and abs(cube["quat_xyzw"][1]) < 1e-3
    wait_until(lambda: arm.objects["stamp"] > first["stamp"], 10, what="a newer /object_states")


def test_a_stray_publisher_cannot_move_the_arm(arm):
    """Nobody owns the arm: a command is refused, counted and reported (a WARN in /diagnostics); the arm stays.
    A claim by one owner makes its commands move the arm; another owner's claim is refused, and commands
    without the owner's token are refused while the owner's move it."""
    q0 = arm.arm_position()
    before = int(arm.latest_diagnostic_values().get("commands_refused") or 0)
    target = q0 + np.array([0.2, 0, 0, 0, 0, 0, 0])
    _stream(arm, target, 1.0)
    d = _diag_when(arm, lambda d: int(d.get("commands_refused") or 0) > before, "the refusal in /diagnostics")
    assert "nobody owns the arm" in d["last_refusal"], d
    assert np.max(np.abs(arm.arm_position() - q0)) < 2e-3, "a command without a claim moved the arm"

    res = arm.claim("/test_owner")
    assert res.success and res.token, res.message
    assert arm.wait_arm_state("ACTIVE", 10) and wait_until(lambda: arm.arm_state.get("owner") == "/test_owner", 10,
                                                               what="the owner in ~/state")
    other = arm.claim("/intruder")
    assert not other.success and "/test_owner" in other.message
    arm.token = "not-the-token"
    _stream(arm, target, 1.0)
    assert np.max(np.abs(arm.arm_position() - q0)) < 2e-3, "a command with a wrong token moved the arm"
    arm.token = res.token
    _stream(arm, target, 1.5)
    assert abs(arm.arm_position()[0] - target[0]) < 0.05, "the owner's commands were not followed"
    assert not arm.claim("/intruder", release=True).success
    assert arm.claim("/test_owner", release=True).success
    wait_until(lambda: arm.arm_state.get("owner") == "", 10, what="no owner in ~/state")
    arm.wait_at_rest(tol=0.02)
    q1 = arm.arm_position()
    arm.token = res.token  # a released token is worth nothing
    _stream(arm, q0, 1.0)
    assert np.max(np.abs(arm.arm_position() - q1)) < 2e-3
    arm.token = ""
    # put the arm back for the next tests
    assert arm.claim("/test_owner").success
    _stream(arm, q0, 2.0)
    assert arm.claim("/test_owner", release=True).success
    arm.wait_at_rest(tol=0.02)


def test_a_fault_shows_in_the_state_and_the_lifecycle_and_reset_restores_both(arm):
    from lifecycle_msgs.srv import GetState

    assert arm.call("estop").success
    state = arm.wait_arm_state("FAULT", 10)
    assert state["fault_code"] == "estop" and state["motion"] == "hold", state
    wait_until(lambda: arm.arm_state.get("lifecycle") == "inactive", 10, what="lifecycle inactive while faulted")
    got = arm.call("get_state", srv_type=GetState)
    assert got.current_state.label == "inactive", got.current_state
    assert arm.call("reset_fault").success
    state = arm.wait_arm_state("ACTIVE", 10)
    assert state["lifecycle"] == "active" and state["fault"] is None, state
    assert arm.call("get_state", srv_type=GetState).current_state.label == "active"


def test_gripper_action_moves_the_fingers_and_is_refused_while_the_arm_is_owned(arm):
    run = arm.grip(0.02, 10.0)
    assert run.wait_answer(30)
    run.wait_result(30)
    assert run.status == 4 and run.result.reached_goal, (run.status, run.result)  # SUCCEEDED
    assert abs(run.result.position - 0.02) < 2e-3
    assert arm.claim("/test_owner").success
    try:
        refused = arm.grip(0.08)
        assert refused.wait_answer(30) is False  # the owner commands the gripper on its joint command
    finally:
        assert arm.claim("/test_owner", release=True).success
    run = arm.grip(0.08)
    assert run.wait_answer(30)
    assert run.wait_result(30).status == 4 and run.result.position > 0.07


def test_the_owner_commands_the_gripper_with_its_trajectory_and_a_stop_freezes_it(arm):
    names = _names(arm)
    finger = "panda_finger_joint1"
    assert arm.claim("/test_owner").success
    try:
        q = arm.arm_position()
        end = time.monotonic() + 0.5
        while time.monotonic() < end:  # close towards 0 (per finger), then stop half way
            arm.publish_trajectory([list(q) + [0.0]], names + [finger])
            time.sleep(0.02)
        arm.publish_trajectory([], ())  # stop: arm and fingers hold where they are
        time.sleep(0.5)
        width = arm.gripper_width()
        time.sleep(1.0)
        assert abs(arm.gripper_width() - width) < 1e-3, "the fingers kept moving after the stop"
        assert 0.0 < width < 0.079
    finally:
        assert arm.claim("/test_owner", release=True).success
    assert arm.grip(0.08).wait_result(30).status == 4


def test_reset_world_places_the_objects_again_and_is_refused_while_owned(arm):
    def cube():
        return np.array(arm.objects["objects"]["cube"]["pos"])

    start = cube()
    assert arm.claim("/test_owner").success
    try:
        refused = arm.reset_world(seed=3)
        assert not refused.success and "/test_owner" in refused.message
    finally:
        assert arm.claim("/test_owner", release=True).success
    res = arm.reset_world(seed=3)
    assert res.success, res.message
    wait_until(lambda: np.linalg.norm(cube()[:2] - start[:2]) > 1e-3, 10, what="the cube at seed 3's place")
    moved = cube()
    assert arm.reset_world(seed=0).success
    wait_until(lambda: np.linalg.norm(cube() - start) < 2e-3, 10, what="the cube back at seed 0's place")
    assert np.linalg.norm(moved[:2] - start[:2]) > 1e-3
    state = arm.wait_arm_state("ACTIVE", 10)
    assert state["lifecycle"] == "active"


def test_robot_description_and_tf_show_the_arm_and_the_objects(arm):
    """RViz's inputs: a latched URDF whose joints are /joint_states' names, /tf_static (fixed links), and /tf with
    the moving links and world -> object frames (xyzw unit quaternions), consistent with /object_states."""
    import xml.etree.ElementTree as ET

    from std_msgs.msg import String
    from tf2_msgs.msg import TFMessage

    urdf = arm.listen(String, "/robot_description", latched=True)
    static = arm.listen(TFMessage, "/tf_static", latched=True)
    tf = arm.listen(TFMessage, "/tf")
    wait_until(lambda: urdf and static and len(tf) > 2, 30, what="/robot_description, /tf_static and /tf")
    root = ET.fromstring(urdf[-1].data)
    joints = {j.get("name") for j in root.iter("joint") if j.get("type") != "fixed"}
    with arm._lock:
        js = arm.joint_states[-1][1]
    assert set(js.name) <= joints, (sorted(js.name), sorted(joints))
    children = {t.child_frame_id: t for m in tf[-3:] for t in m.transforms}
    assert "panda_link7" in children and "cube" in children, sorted(children)
    assert {t.child_frame_id for t in static[-1].transforms}, "no fixed links on /tf_static"
    cube_tf = children["cube"].transform
    q = cube_tf.rotation
    assert math.isclose(math.sqrt(q.x ** 2 + q.y ** 2 + q.z ** 2 + q.w ** 2), 1.0, abs_tol=1e-6)
    cube = arm.objects["objects"]["cube"]["pos"]
    assert np.allclose([cube_tf.translation.x, cube_tf.translation.y, cube_tf.translation.z], cube, atol=0.01)
