"""The skill server's data path without ROS: primitives (scripted expert + IK) against the scene arm
(``TabletopSceneArm``: the MuJoCo tabletop world behind the HAL and its SafetyFilter), in lock-step."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from skill_rl.hardware import HalFaultError, HalState, JointPositionCommand, ManualClock
from skill_rl.ros.primitives import (
    BadParamsError,
    KinematicModel,
    UnknownSkillError,
    make_primitive,
    parse_params,
    run_lockstep,
    skill_names,
)
from skill_rl.ros.scene import TabletopSceneArm
from skill_rl.ros.task_executor import parse_steps

TASK = "TabletopPickPlace-v0"


@pytest.fixture(scope="module")
def kin():
    k = KinematicModel(TASK)
    yield k
    k.close()


def _arm(seed: int) -> TabletopSceneArm:
    clock = ManualClock()
    arm = TabletopSceneArm(task=TASK, seed=seed, clock=clock)
    arm.configure()
    arm.activate()
    for _ in range(100):  # past the soft start
        clock.advance(0.01)
        arm.read()
        arm.write(None)
        arm.step(0.01)
    return arm


def _layout(arm):
    return {k: slice(*v) for k, v in arm.scene_state()["layout"].items()}


def test_importing_the_ros_package_and_its_tools_imports_no_rclpy():
    """The package, the launcher, the environment setup and the offline pieces need no ROS; the node modules
    (arm_hal, skill_server, task_executor) define their node classes at module level and do import rclpy."""
    code = ("import sys, skill_rl.ros, skill_rl.ros.up, skill_rl.ros.env, skill_rl.ros.primitives, skill_rl.ros.scene, "
            "skill_rl.ros.testing; "
            "bad = [m for m in ('rclpy', 'skill_interfaces', 'mujoco') if m in sys.modules]; assert not bad, bad; "
            "import skill_rl.ros.arm_hal as a; assert a.ArmHalNode.__module__ == 'skill_rl.ros.arm_hal'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_registering_and_building_the_ros2_backend_imports_no_rclpy():
    code = ("import sys; from skill_rl.hardware import backend_names, make_backend; "
            "assert 'ros2' in backend_names(); arm = make_backend('ros2'); "
            "assert arm.state.name == 'UNCONFIGURED'; assert 'rclpy' not in sys.modules, 'rclpy imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pick_place_through_the_safety_filter_puts_the_cube_in_the_region(kin, seed):
    arm = _arm(seed)
    try:
        prim = make_primitive("pick_place", kin, _layout(arm))
        last, steps = run_lockstep(arm, prim)
        assert last.done and last.success, last.message
        scene = arm.scene_state()
        cube, region = np.array(scene["objects"]["cube"][:3]), np.array(scene["objects"]["region"][:3])
        assert np.all(np.abs(cube[:2] - region[:2]) < 0.05) and cube[2] < 0.03 and scene["success"]
        assert arm.state is HalState.ACTIVE and arm.fault is None  # never leaned on the filter's fault paths
        assert {s.phase for s in steps} >= {"above", "descend", "close", "lift", "carry", "lower", "release"}
    finally:
        arm.shutdown()


def test_place_xy_param_moves_the_place_point(kin):
    arm = _arm(3)
    try:
        region = np.array(arm.scene_state()["objects"]["region"][:2])
        cube0 = np.array(arm.scene_state()["objects"]["cube"][:2])
        place = np.clip((region + cube0) / 2 + [0.0, 0.05], -0.15, 0.15)
        last, _ = run_lockstep(arm, make_primitive("pick_place", kin, _layout(arm), {"place_xy": place.tolist()}))
        assert last.success, last.message
        cube = np.array(arm.scene_state()["objects"]["cube"][:2])
        assert np.all(np.abs(cube - place) < 0.045)
    finally:
        arm.shutdown()


def test_home_primitive_reaches_the_posture(kin):
    arm = _arm(0)
    try:
        goal = [0.3, -0.2, 0.1, -2.2, 0.0, 2.0, 0.6]
        last, _ = run_lockstep(arm, make_primitive("home", kin, _layout(arm), json.dumps({"joints": goal, "speed": 1.0})))
        assert last.success and np.max(np.abs(arm.read().position - goal)) < 0.02
    finally:
        arm.shutdown()


@pytest.mark.parametrize("seed", [0, 1, 5])
def test_push_runs_near_the_table_through_the_safety_filter_without_faulting(seed):
    """The push slides the closed fingers 1.5 cm above the table: the filter's workspace floor (the table)
    must let it (no WORKSPACE fault), while keeping the fingertips above the table on every cycle."""
    from skill_rl.hardware import ClampKind

    kin = KinematicModel("TabletopPush-v0")
    clock = ManualClock()
    arm = TabletopSceneArm(task="TabletopPush-v0", seed=seed, clock=clock)
    arm.configure()
    arm.activate()
    try:
        for _ in range(100):  # past the soft start
            clock.advance(0.01)
            arm.read()
            arm.write(None)
            arm.step(0.01)
        write, lowest, workspace_clamps = arm.write, [], []

        def spy(cmd=None):  # every setpoint the filter sends: where its fingertips are
            applied = write(cmd)
            lowest.append(arm.description.kinematics.tool_points(applied.values)["fingertips"][2])
            workspace_clamps.append(bool(arm.last_report.clamps_of(ClampKind.WORKSPACE)))
            return applied

        arm.write = spy
        last, steps = run_lockstep(arm, make_primitive("push", kin, _layout(arm)))
        assert last.done and last.success, last.message
        assert arm.state is HalState.ACTIVE and arm.fault is None
        assert {s.phase for s in steps} >= {"above", "descend", "push"}
        scene = arm.scene_state()
        cube, region = np.array(scene["objects"]["cube"][:3]), np.array(scene["objects"]["region"][:3])
        assert np.all(np.abs(cube[:2] - region[:2]) < 0.04) and cube[2] < 0.03 and scene["success"]
        assert min(lowest) >= arm.description.workspace.lower[2] - 1e-6  # never a setpoint into the table
        assert min(lowest) < 0.02  # it did work close to the table
        # Far from the repeated-violation fault: clamps, if any, come in short runs.
        runs = "".join("x" if c else "." for c in workspace_clamps).split(".")
        assert max(len(r) for r in runs) < arm.safety.max_consecutive_violations // 2
    finally:
        arm.shutdown()
        kin.close()


def test_the_workspace_floor_still_stops_a_dive_into_the_table(kin):
    """A command that drives the hand into the table is held at the floor, then faults WORKSPACE naming the
    fingertips: the push fix did not open the floor."""
    arm = _arm(0)
    floor, kin.min_grip_z = kin.min_grip_z, -1.0  # a controller without the primitives' table clearance
    try:
        q = arm.read().position
        layout = _layout(arm)
        kin.reset_target(q)
        clock = arm.clock
        fault = None
        for _ in range(400):
            q = arm.read().position
            target, _ = kin.ee_delta_target(q, np.array([0, 0, -1.0, 0, 0, 0, 1.0]))  # straight down, full speed
            clock.advance(0.01)
            try:
                arm.write(JointPositionCommand(target, clock(), arm.joint_names))
            except HalFaultError as e:
                fault = e.fault
                break
            arm.step(0.01)
            tips = arm.description.kinematics.tool_points(arm.last_report.positions)["fingertips"]
            assert tips[2] >= -1e-6
        assert layout and fault is not None, "diving into the table must fault"
        assert fault.code.value == "workspace" and "fingertips z" in fault.message
    finally:
        kin.min_grip_z = floor
        arm.shutdown()


def test_unknown_skills_and_bad_params_are_named(kin):
    layout = dict(kin.layout)
    assert skill_names() == ["home", "lift", "pick_place", "push"]
    with pytest.raises(UnknownSkillError, match=r"unknown skill 'pick_palce'.*available: home, lift, pick_place, push"):
        make_primitive("pick_palce", kin, layout)
    no_cube = {k: v for k, v in layout.items() if not k.startswith("cube")}
    with pytest.raises(UnknownSkillError, match="cannot run in this world: it needs cube_pos"):
        make_primitive("pick_place", kin, no_cube)
    with pytest.raises(BadParamsError, match="not valid JSON"):
        make_primitive("pick_place", kin, layout, "{oops")
    with pytest.raises(BadParamsError, match="JSON object"):
        parse_params("[1, 2]")
    with pytest.raises(BadParamsError, match=r"no parameter 'place'.*valid: place_xy"):
        make_primitive("pick_place", kin, layout, {"place": [0, 0]})
    with pytest.raises(BadParamsError, match="place_xy must be 2 finite numbers"):
        make_primitive("pick_place", kin, layout, {"place_xy": [0, "a"]})
    with pytest.raises(BadParamsError, match="outside the joint limits"):
        make_primitive("home", kin, layout, {"joints": [9, 0, 0, -2, 0, 2, 0]})
    assert parse_params("") == {} and parse_params(None) == {}


def test_task_sequences_are_validated():
    steps = parse_steps('[{"skill": "pick_place", "params": {"place_xy": [0, 0]}, "timeout": 30}, "home"]')
    assert [s.skill for s in steps] == ["pick_place", "home"] and steps[0].timeout == 30.0
    assert steps[0].params == '{"place_xy": [0, 0]}'
    for bad, match in [("[]", "non-empty"), ('[{"params": {}}]', "step 0: needs a string 'skill'"),
                       ('[{"skill": "a", "speed": 1}]', "unknown keys"), ('[{"skill": "a", "timeout": "x"}]', "timeout")]:
        with pytest.raises(ValueError, match=match):
            parse_steps(bad)
