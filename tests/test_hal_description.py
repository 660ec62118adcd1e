"""Robot description: loading, validation errors that name the key, and forward kinematics checked against
the MuJoCo tabletop model (and pybullet's Panda URDF)."""

from __future__ import annotations

import copy

import mujoco
import numpy as np
import pytest
import yaml

import skill_rl.envs as envs
from skill_rl.envs.tabletop.scene import FINGER_MAX_OPENING, HOME_QPOS, JOINT_LIMITS, ROBOT_BASE
from skill_rl.hardware import (
    DescriptionError,
    RobotDescription,
    SafetyConfig,
    available_descriptions,
    load_description,
)
from skill_rl.hardware.description import description_path
from tests._extras import require

PANDA = load_description("panda")


def panda_dict() -> dict:
    return copy.deepcopy(yaml.safe_load(description_path("panda").read_text()))


def test_panda_description_loads_with_the_documented_values():
    d = PANDA
    assert d.name == "panda" and d.n_joints == 7 and "panda" in available_descriptions()
    assert d.joint_names == tuple(f"panda_joint{i}" for i in range(1, 8))
    np.testing.assert_array_equal(np.stack([d.limits.lower, d.limits.upper], 1), JOINT_LIMITS)  # same as the scene
    np.testing.assert_allclose(d.home, HOME_QPOS)
    assert d.gripper.max_width == pytest.approx(2 * FINGER_MAX_OPENING)
    assert d.nominal_rate_hz == 100.0 and d.period == pytest.approx(0.01)
    assert d.workspace.contains(d.fk(d.home)[:3, 3])
    assert SafetyConfig.from_description(d) == SafetyConfig()  # the YAML spells out the defaults
    with pytest.raises(ValueError):
        d.home[0] = 1.0  # read-only


@pytest.mark.parametrize("edit, match", [
    (lambda d: d["joints"].pop("velocity_limits"), r"missing key 'joints\.velocity_limits'"),
    (lambda d: d.pop("kinematics"), r"missing key 'kinematics'"),
    (lambda d: d["joints"]["position_limits"].pop(), r"joints\.position_limits: must have shape \(7, 2\).*got shape \(6, 2\)"),
    (lambda d: d["joints"].update(acceleration_limits=[1, 2, 3]), r"joints\.acceleration_limits: must have shape \(7,\)"),
    (lambda d: d["joints"].update(effort_limits=["a"] * 7), r"joints\.effort_limits: must be numbers"),
    (lambda d: d["joints"]["velocity_limits"].__setitem__(2, 0.0), r"joints\.velocity_limits: joint 'panda_joint3': must be > 0"),
    (lambda d: d["joints"]["position_limits"].__setitem__(3, [0.5, -0.5]), r"position_limits: joint 'panda_joint4': lower 0.5 must be < upper"),
    (lambda d: d["home"].__setitem__(5, 5.0), r"home: joint 'panda_joint6': 5.0 rad is outside its limits"),
    (lambda d: d["workspace"].update(lower=[0, 0, 2]), r"workspace: lower must be < upper.*axis z"),
    (lambda d: d["kinematics"].update(a=[0.0] * 6), r"kinematics\.a: must have shape \(7,\)"),
    (lambda d: d["kinematics"].update(convention="dh"), r"kinematics\.convention: only 'craig_dh'"),
    (lambda d: d["gripper"].update(width_range=[0.08, 0.0]), r"gripper\.width_range: must satisfy"),
    (lambda d: d["control"].update(nominal_rate_hz=0), r"control\.nominal_rate_hz: must be > 0"),
    (lambda d: d["joints"].update(velocity_limit=[1] * 7), r"joints\.velocity_limit: unknown key; valid keys here: acceleration_limits"),
    (lambda d: d.update(worksapce={}), r"worksapce: unknown key"),
    (lambda d: d["safety"].update(watchdog_timeout=0.1), r"safety\.watchdog_timeout: unknown key; valid keys: .*watchdog_timeout_s"),
    (lambda d: d["safety"].update(strict="yes"), r"safety\.strict: must be true or false"),
    (lambda d: d["safety"].update(tracking_error_cycles=0), r"safety\.tracking_error_cycles: must be an integer >= 1"),
])
def test_malformed_descriptions_name_the_key(tmp_path, edit, match):
    data = panda_dict()
    edit(data)
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(DescriptionError, match=match) as info:
        desc = load_description(path)
        SafetyConfig.from_description(desc)  # the safety section is validated when used
    assert str(path) in str(info.value)


def test_unreadable_or_unknown_descriptions(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("joints: [unclosed\n")
    with pytest.raises(DescriptionError, match="not valid YAML"):
        load_description(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(DescriptionError, match="top level: must be a mapping"):
        load_description(listy)
    with pytest.raises(DescriptionError, match=r"unknown robot description 'ur5'; available: panda"):
        load_description("ur5")
    with pytest.raises(DescriptionError, match="does not exist"):
        load_description(tmp_path / "missing.yaml")


def test_fk_matches_the_mujoco_tabletop_grip_site():
    env = envs.make("TabletopReach-v0").unwrapped
    env.reset(seed=0)
    model, data = env.model, env.data
    qadr = [model.joint(f"joint{i + 1}").qposadr[0] for i in range(7)]
    rng = np.random.default_rng(0)
    for _ in range(100):
        q = rng.uniform(PANDA.limits.lower, PANDA.limits.upper)
        data.qpos[qadr] = q
        mujoco.mj_kinematics(model, data)
        pose = PANDA.fk(q)
        err = np.linalg.norm(pose[:3, 3] + ROBOT_BASE - data.site_xpos[env.grip_site])
        assert err < 1e-3, f"FK off by {err * 1000:.3f} mm at q={q}"
        np.testing.assert_allclose(pose[:3, :3], data.site_xmat[env.grip_site].reshape(3, 3), atol=1e-6)
        flange = PANDA.fk_flange(q)[:3, 3] + ROBOT_BASE
        np.testing.assert_allclose(flange, data.xpos[model.body("hand").id], atol=1e-6)
    env.close()


def test_fk_matches_pybullets_panda_urdf():
    pb = require("pybullet", extra="sim")
    import pybullet_data

    cid = pb.connect(pb.DIRECT)
    try:
        robot = pb.loadURDF(f"{pybullet_data.getDataPath()}/franka_panda/panda.urdf", useFixedBase=True, physicsClientId=cid)
        rng = np.random.default_rng(1)
        for _ in range(50):
            q = rng.uniform(PANDA.limits.lower, PANDA.limits.upper)
            for j in range(7):
                pb.resetJointState(robot, j, q[j], physicsClientId=cid)
            hand = pb.getLinkState(robot, 8, computeForwardKinematics=True, physicsClientId=cid)  # panda_hand
            rot = np.array(pb.getMatrixFromQuaternion(hand[5])).reshape(3, 3)
            grip = np.array(hand[4]) + rot @ np.array([0, 0, 0.1034])
            np.testing.assert_allclose(PANDA.fk(q)[:3, 3], grip, atol=1e-3)
            np.testing.assert_allclose(PANDA.fk(q)[:3, :3], rot, atol=1e-4)
    finally:
        pb.disconnect(physicsClientId=cid)


def test_from_dict_accepts_other_arms():
    data = panda_dict()
    data["name"] = "six"
    data["joints"]["names"] = data["joints"]["names"][:6]
    for key in ("position_limits", "velocity_limits", "acceleration_limits", "effort_limits"):
        data["joints"][key] = data["joints"][key][:6]
    data["home"] = data["home"][:6]
    for key in ("a", "d", "alpha"):
        data["kinematics"][key] = data["kinematics"][key][:6]
    desc = RobotDescription.from_dict(data, source="six.yaml")
    assert desc.n_joints == 6 and desc.fk(desc.home).shape == (4, 4)
