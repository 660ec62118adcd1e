"""skill_rl.ros.description: the URDF generated from the simulated arm's MuJoCo model, the TF frames, the
quaternion order at the ROS boundary, and the typed message builders. No ROS graph is started: the URDF and
FK tests need only mujoco; the message tests build rclpy message objects (the ros extra)."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np
import pytest

from skill_rl.envs.tabletop.scene import FINGER_MAX_OPENING, ObjectSpec, SceneSpec, build_scene_xml
from skill_rl.hardware import load_description
from skill_rl.ros.description import (
    ArmTree,
    ObjectPose,
    link_transforms,
    object_transforms,
    objects_from_scene_state,
    simulated_arm_model,
    urdf_from_mujoco,
    wxyz_to_xyzw,
    xyzw_to_wxyz,
)
from tests._extras import missing, require

PANDA = load_description("panda")
#: What arm_hal publishes in /joint_states: the HAL's joints, then <robot>_finger_joint1/2.
JOINT_STATES_NAMES = [*PANDA.joint_names, "panda_finger_joint1", "panda_finger_joint2"]
#: tf2_msgs/msg/TFMessage's type hash in ROS 2 (Jazzy onwards: `ros2 topic info -v /tf`, rosidl's golden
#: hash tests); the vendored copy must have the same, or RViz on a ROS install would not match the topic.
ROS_TFMESSAGE_HASH = "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087"


@pytest.fixture(scope="module")
def model():
    return simulated_arm_model()


@pytest.fixture(scope="module")
def urdf(model):
    return urdf_from_mujoco(model)


# ------------------------------------------------------------------------------ URDF parsing (own, for FK)
def _rpy_matrix(rpy):
    r, p, y = rpy
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx  # URDF: fixed-axis roll, pitch, yaw


def _rodrigues(axis, angle):
    a = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def _floats(text, n=3):
    values = [float(x) for x in (text or " ".join(["0"] * n)).split()]
    assert len(values) == n
    return values


def _urdf_fk(urdf_text: str, positions: dict[str, float]) -> dict[str, np.ndarray]:
    """Every link's 4x4 pose in the root link, composed from the URDF's joint origins and axes."""
    robot = ET.fromstring(urdf_text)
    joints = {}
    for j in robot.findall("joint"):
        origin = j.find("origin")
        axis = j.find("axis")
        joints[j.find("child").get("link")] = (
            j.find("parent").get("link"), j.get("type"), j.get("name"),
            _floats(origin.get("xyz") if origin is not None else None),
            _floats(origin.get("rpy") if origin is not None else None),
            _floats(axis.get("xyz")) if axis is not None else [1.0, 0.0, 0.0],
        )
    poses: dict[str, np.ndarray] = {}

    def pose(link):
        if link in poses:
            return poses[link]
        if link not in joints:
            poses[link] = np.eye(4)
            return poses[link]
        parent, kind, name, xyz, rpy, axis = joints[link]
        t = np.eye(4)
        t[:3, :3], t[:3, 3] = _rpy_matrix(rpy), xyz
        motion = np.eye(4)
        if kind in ("revolute", "continuous"):
            motion[:3, :3] = _rodrigues(axis, positions[name])
        elif kind == "prismatic":
            motion[:3, 3] = np.asarray(axis) * positions[name]
        poses[link] = pose(parent) @ t @ motion
        return poses[link]

    for link in [link.get("name") for link in robot.findall("link")]:
        pose(link)
    return poses


def _random_qpos(model, rng):
    q = model.qpos0.copy()
    for j in range(model.njnt):
        if model.jnt_limited[j]:
            lo, hi = model.jnt_range[j]
            q[model.jnt_qposadr[j]] = rng.uniform(lo, hi)
    return q


def _mujoco_poses(model, qpos):
    """World pose (4x4) of every body and site (by MuJoCo name) at qpos."""
    data = mujoco.MjData(model)
    data.qpos[:] = qpos
    mujoco.mj_kinematics(model, data)
    out = {}
    for b in range(1, model.nbody):
        t = np.eye(4)
        t[:3, :3], t[:3, 3] = data.xmat[b].reshape(3, 3), data.xpos[b]
        out[model.body(b).name] = t
    for s in range(model.nsite):
        t = np.eye(4)
        t[:3, :3], t[:3, 3] = data.site_xmat[s].reshape(3, 3), data.site_xpos[s]
        out[model.site(s).name] = t
    return out


def _joint_positions(model, qpos) -> dict[str, float]:
    """ROS joint name -> position, as /joint_states would carry them."""
    mj = {f"joint{i + 1}": n for i, n in enumerate(PANDA.joint_names)} | {"finger_joint1": "panda_finger_joint1",
                                                                          "finger_joint2": "panda_finger_joint2"}
    return {ros: float(qpos[model.joint(name).qposadr[0]]) for name, ros in mj.items()}


# ------------------------------------------------------------------------------ URDF
def test_urdf_parses_with_urdfdom_as_one_tree(urdf, tmp_path):
    robot = ET.fromstring(urdf)
    links = [link.get("name") for link in robot.findall("link")]
    assert len(links) == len(set(links))
    children = [j.find("child").get("link") for j in robot.findall("joint")]
    parents = [j.find("parent").get("link") for j in robot.findall("joint")]
    assert len(children) == len(set(children)), "a link with two parents"
    assert set(children) | set(parents) <= set(links)
    assert [link for link in links if link not in children] == ["world"]  # one root
    for link in robot.findall("link"):
        for geom in link.iter("geometry"):
            (shape,) = list(geom)
            assert shape.tag in ("box", "sphere", "cylinder")
    # the parser robot_state_publisher and RViz use (urdfdom; the ros extra installs cmeel-urdfdom)
    check = shutil.which("check_urdf")
    if check is None:
        missing("check_urdf (urdfdom, the pip package cmeel-urdfdom) is not installed", "ros")
    path = tmp_path / "panda.urdf"
    path.write_text(urdf)
    out = subprocess.run([check, str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Successfully Parsed XML" in out.stdout and "root Link: world" in out.stdout


def test_urdfdom_rejects_what_is_not_a_urdf(tmp_path):
    """The check above can fail: a revolute joint without limits is refused."""
    check = shutil.which("check_urdf")
    if check is None:
        missing("check_urdf (urdfdom, the pip package cmeel-urdfdom) is not installed", "ros")
    path = tmp_path / "bad.urdf"
    path.write_text('<robot name="r"><link name="a"/><link name="b"/><joint name="j" type="revolute">'
                    '<parent link="a"/><child link="b"/><axis xyz="0 0 1"/></joint></robot>')
    assert subprocess.run([check, str(path)], capture_output=True, text=True, timeout=60).returncode != 0


def test_urdf_joints_are_those_of_joint_states_with_the_description_limits(urdf, model):
    robot = ET.fromstring(urdf)
    moving = [j for j in robot.findall("joint") if j.get("type") != "fixed"]
    assert [j.get("name") for j in moving] == JOINT_STATES_NAMES
    lim = PANDA.limits
    for i, j in enumerate(moving[:7]):
        assert j.get("type") == "revolute"
        limit = j.find("limit")
        got = [float(limit.get(k)) for k in ("lower", "upper", "velocity", "effort")]
        assert got == pytest.approx([lim.lower[i], lim.upper[i], lim.velocity[i], lim.effort[i]], abs=1e-12)
    for j in moving[7:]:
        assert j.get("type") == "prismatic"
        limit = j.find("limit")
        assert float(limit.get("lower")) == 0.0
        assert float(limit.get("upper")) == pytest.approx(FINGER_MAX_OPENING)
        assert float(limit.get("velocity")) == pytest.approx(PANDA.gripper.max_speed / 2)
        assert float(limit.get("effort")) == pytest.approx(PANDA.gripper.max_force)
    # the arm inside a task scene gives the same URDF (objects and their free joints are not below link0)
    scene = mujoco.MjModel.from_xml_string(build_scene_xml(SceneSpec(objects=(
        ObjectSpec("cube", "cube"), ObjectSpec("region", "region", size=(0.05, 0.05))))))
    assert urdf_from_mujoco(scene) == urdf


def test_fk_composed_from_the_urdf_equals_mujoco_body_and_site_poses(urdf, model):
    rng = np.random.default_rng(0)
    names = {link: link.removeprefix("panda_") for link in ArmTree(model).links if link != "world"}
    for _ in range(20):
        qpos = _random_qpos(model, rng)
        fk = _urdf_fk(urdf, _joint_positions(model, qpos))
        truth = _mujoco_poses(model, qpos)
        for link, body in names.items():
            np.testing.assert_allclose(fk[link][:3, 3], truth[body][:3, 3], atol=1e-6, err_msg=link)
            np.testing.assert_allclose(fk[link][:3, :3], truth[body][:3, :3], atol=1e-6, err_msg=link)
    assert len(names) == 12  # link0..7, hand, two fingers, the grip site


def test_link_transforms_compose_to_mujoco_poses_from_qpos_or_joint_states(model):
    tree = ArmTree(model)
    rng = np.random.default_rng(1)
    for _ in range(10):
        qpos = _random_qpos(model, rng)
        by_qpos = link_transforms(model, qpos)
        by_names = tree.transforms(_joint_positions(model, qpos))
        assert [(t.parent, t.child) for t in by_qpos] == [(t.parent, t.child) for t in by_names]
        world = {"world": np.eye(4)}
        for t, u in zip(by_qpos, by_names, strict=True):
            np.testing.assert_allclose(t.xyz, u.xyz, atol=1e-12)
            np.testing.assert_allclose(t.quat_xyzw, u.quat_xyzw, atol=1e-12)
            assert abs(np.linalg.norm(t.quat_xyzw) - 1) < 1e-12
            x = np.eye(4)
            x[:3, :3] = _xyzw_matrix(t.quat_xyzw)
            x[:3, 3] = t.xyz
            world[t.child] = world[t.parent] @ x
        truth = _mujoco_poses(model, qpos)
        for link, pose in world.items():
            if link != "world":
                np.testing.assert_allclose(pose, truth[link.removeprefix("panda_")], atol=1e-9, err_msg=link)
    moving = tree.transforms(moving=True)
    fixed = tree.transforms(moving=False)
    assert len(moving) == len(JOINT_STATES_NAMES) and len(moving) + len(fixed) == len(tree.transforms())
    assert ("world", "panda_link0") in [(t.parent, t.child) for t in fixed]


def _xyzw_matrix(q):
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def test_bad_models_and_positions_are_refused_with_the_reason(model):
    with pytest.raises(ValueError, match="no body 'nope'"):
        ArmTree(model, "nope")
    with pytest.raises(ValueError, match="finite"):
        ArmTree(model).transforms({"panda_joint1": float("nan")})
    with pytest.raises(ValueError, match="coordinates"):
        ArmTree(model).transforms([0.0] * 3)
    with pytest.raises(ValueError, match="no ROS name"):
        ArmTree(model, joint_names={"joint2": "panda_joint2"})
    # a robot description whose limits are not the model's
    other = load_description("panda")
    lower = other.limits.lower.copy()
    lower[0] = -1.0
    limits = type(other.limits)(lower, other.limits.upper, other.limits.velocity, other.limits.acceleration,
                                other.limits.effort)
    with pytest.raises(ValueError, match="differs from the description"):
        ArmTree(model, description=dataclasses.replace(other, limits=limits))
    # a free-floating body cannot be a URDF joint
    scene = mujoco.MjModel.from_xml_string(build_scene_xml(SceneSpec(objects=(ObjectSpec("cube", "cube"),))))
    with pytest.raises(ValueError, match="free joint|has a joint"):
        ArmTree(scene, "cube")


# ------------------------------------------------------------------------------ quaternions and objects
def test_quaternion_order_helpers_round_trip():
    assert wxyz_to_xyzw([1, 0, 0, 0]).tolist() == [0, 0, 0, 1]
    assert xyzw_to_wxyz([0, 0, 0, 1]).tolist() == [1, 0, 0, 0]
    q = np.random.default_rng(2).normal(size=(5, 4))
    np.testing.assert_array_equal(xyzw_to_wxyz(wxyz_to_xyzw(q)), q)
    np.testing.assert_array_equal(wxyz_to_xyzw(q)[:, 3], q[:, 0])
    with pytest.raises(ValueError, match="4 components"):
        wxyz_to_xyzw([1, 0, 0])


def test_objects_from_the_scene_state_are_in_xyzw():
    half = math.sqrt(0.5)
    scene = {"objects": {"cube": [0.1, 0.2, 0.02, half, 0, 0, half], "region": [0.0, -0.1, 0.0, 1, 0, 0, 0]},
             "kinds": {"cube": "cube", "region": "region"}}
    objects = objects_from_scene_state(scene)
    assert objects[0] == ObjectPose("cube", "cube", (0.1, 0.2, 0.02), pytest.approx((0, 0, half, half)), 0.0)
    assert objects[0].pose_wxyz() == pytest.approx(scene["objects"]["cube"])
    tfs = object_transforms(scene)
    assert [(t.parent, t.child) for t in tfs] == [("world", "cube"), ("world", "region")]
    assert tfs[1].quat_xyzw == (0.0, 0.0, 0.0, 1.0)
    drawer = objects_from_scene_state({"objects": {"cabinet": {"pose": [0.2, 0, 0, 1, 0, 0, 0], "kind": "drawer",
                                                                "opening": 0.07}}})
    assert (drawer[0].kind, drawer[0].opening) == ("drawer", 0.07)
    # TabletopSceneArm.object_states()' form gives the same
    listed = [{"name": "cube", "kind": "cube", "position": [0.1, 0.2, 0.02], "quat_wxyz": [half, 0, 0, half],
               "opening": 0.0}]
    assert object_transforms(listed) == tfs[:1]
    with pytest.raises(ValueError, match="7 finite numbers"):
        objects_from_scene_state({"objects": {"cube": [0, 0, 0, 1, 0, 0]}})
    with pytest.raises(ValueError, match="not a rotation"):
        objects_from_scene_state({"objects": {"cube": [0, 0, 0, 0, 0, 0, 0]}})


def test_object_frames_of_the_simulated_scene_are_mujocos_body_poses():
    """From the producer itself (TabletopSceneArm.object_states(), quaternions wxyz) to world -> object frames."""
    from skill_rl.ros.scene import TabletopSceneArm

    arm = TabletopSceneArm(task="TabletopPickPlace-v0", seed=3)
    arm.configure()
    try:
        states = arm.object_states()
        tfs = {t.child: t for t in object_transforms(states)}
        assert set(tfs) == {o["name"] for o in states} and len(tfs) >= 2
        for o in states:
            body = arm.data.body(o["name"])
            np.testing.assert_allclose(tfs[o["name"]].xyz, body.xpos, atol=1e-12)
            np.testing.assert_allclose(_xyzw_matrix(tfs[o["name"]].quat_xyzw), body.xmat.reshape(3, 3), atol=1e-9)
            assert tfs[o["name"]].parent == "world"
    finally:
        arm.shutdown()


# ------------------------------------------------------------------------------ messages (rclpy types)
@pytest.fixture(scope="module")
def ros():
    require("rclpy", extra="ros")
    from skill_rl.ros.env import InterfacesNotBuiltError, ensure_interfaces

    try:
        ensure_interfaces()
    except InterfacesNotBuiltError as e:
        missing(str(e), "ros")
    from rclpy.serialization import deserialize_message, serialize_message

    return serialize_message, deserialize_message


def _round_trip(ros, msg):
    serialize, deserialize = ros
    return deserialize(serialize(msg), type(msg))


def test_arm_state_msg_fills_every_field(ros):
    from skill_interfaces.msg import ArmState

    from skill_rl.ros.description import arm_state_msg

    state = {"state": "FAULT", "lifecycle": "active", "fault": "ESTOP: pressed", "fault_code": "estop",
             "motion": "hold", "robot": "panda", "backend": "mujoco", "joint_names": list(PANDA.joint_names),
             "owner": "/skill_server"}
    msg = _round_trip(ros, arm_state_msg(state, stamp=12.5))
    assert msg.state == ArmState.FAULT
    assert (msg.fault, msg.fault_code, msg.owner, msg.motion) == ("ESTOP: pressed", "estop", "/skill_server", "hold")
    assert list(msg.joint_names) == list(PANDA.joint_names)
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 500_000_000)
    idle = arm_state_msg({**state, "state": "ACTIVE", "fault": None, "fault_code": None, "owner": None})
    assert (idle.fault, idle.fault_code, idle.owner) == ("", "", "")
    with pytest.raises(ValueError, match="one of UNCONFIGURED"):
        arm_state_msg({**state, "state": "RUNNING"})


def test_object_states_msg_is_world_frame_xyzw_and_reads_back(ros):
    from skill_rl.ros.description import object_states_msg, objects_from_msg

    half = math.sqrt(0.5)
    scene = {"objects": {"cube": [0.1, 0.2, 0.02, half, 0, 0, half]}, "kinds": {"cube": "cube"}}
    msg = _round_trip(ros, object_states_msg(scene, stamp=3.25, source="sim"))
    assert (msg.header.frame_id, msg.source, msg.header.stamp.sec, msg.header.stamp.nanosec) == ("world", "sim", 3, 250_000_000)
    (cube,) = msg.objects
    o = cube.pose.orientation
    assert (cube.name, cube.kind, cube.pose.position.x, cube.pose.position.z) == ("cube", "cube", 0.1, 0.02)
    assert (o.x, o.y, o.z, o.w) == pytest.approx((0, 0, half, half))
    back = objects_from_msg(msg)
    assert back == objects_from_scene_state(scene)


def test_tf_message_carries_the_link_transforms_under_the_real_tf2_type(ros, model):
    from tf2_msgs.msg import TFMessage

    from skill_rl.ros.description import tf_message

    transforms = link_transforms(model, _random_qpos(model, np.random.default_rng(3)))
    msg = _round_trip(ros, tf_message(transforms, stamp=1.0))
    assert isinstance(msg, TFMessage)
    assert [(t.header.frame_id, t.child_frame_id) for t in msg.transforms] == [(t.parent, t.child) for t in transforms]
    for t, m in zip(transforms, msg.transforms, strict=True):
        r = m.transform.rotation
        assert (r.x, r.y, r.z, r.w) == pytest.approx(t.quat_xyzw) and m.header.stamp.sec == 1
    # the same type as ROS's own tf2_msgs: name and hash (what DDS matches on)
    hashes = []
    for prefix in filter(None, os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)):
        path = Path(prefix) / "share" / "tf2_msgs" / "msg" / "TFMessage.json"
        if path.is_file():
            hashes.append(json.loads(path.read_text())["type_hashes"][0]["hash_string"])
    assert hashes and hashes[0] == ROS_TFMESSAGE_HASH


def test_skill_params_round_trip_and_refuse_bad_values(ros):
    from skill_rl.ros.description import params_from_msgs, skill_param_msgs

    msgs = [_round_trip(ros, m) for m in skill_param_msgs({"place_xy": [0.1, -0.2], "height": 0.05, "target": "cube"})]
    assert params_from_msgs(msgs) == {"place_xy": [0.1, -0.2], "height": [0.05], "target": "cube"}
    with pytest.raises(ValueError, match="finite"):
        skill_param_msgs({"place_xy": [float("nan"), 0]})
    with pytest.raises(ValueError, match="twice"):
        params_from_msgs(msgs + msgs[:1])
