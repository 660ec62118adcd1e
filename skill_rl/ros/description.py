"""The robot and the scene as ROS sees them: a URDF of the simulated Panda, TF frames, typed messages.

Why here, in one place: RViz, tf2 and robot_state_publisher need ``/robot_description`` (a URDF) and
``/tf``; the simulated arm is a MuJoCo model (``skill_rl.envs.tabletop.scene``), so the URDF is generated
from that model rather than kept by hand next to it (two copies of the kinematics drift apart).

- :class:`ArmTree` / :func:`urdf_from_mujoco`: one URDF link per MuJoCo body below ``root_body`` (plus one per
  site, e.g. the grip point, and a ``world`` link), joints with origins from the body frames, axes, limits
  from the robot description YAML (``skill_rl.hardware``), primitive visual/collision geometry from the geoms.
  Joint names are those of ``/joint_states`` (the HAL's, plus ``<robot>_finger_joint1/2``).
- :func:`link_transforms`: each link relative to its parent at given joint positions (what
  robot_state_publisher publishes from the URDF and ``/joint_states``); :func:`object_transforms`:
  ``world`` -> object frames.
- :func:`wxyz_to_xyzw` / :func:`xyzw_to_wxyz`: MuJoCo orders quaternions w, x, y, z, ROS x, y, z, w. Converted
  here, at the boundary, once.
- Message builders (``ArmState``, ``ObjectStates``, ``TFMessage``, ``SkillParam``): rclpy and the message
  packages are imported inside them, never at import time (the module is usable and tested without ROS).

Frames and units: metres, radians; ``world`` is MuJoCo's world frame (the table top is z = 0); the arm's base
link (``panda_link0``) sits at ``scene.ROBOT_BASE`` in it.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from skill_rl.hardware.description import RobotDescription, load_description

__all__ = [
    "ARM_STATES",
    "ArmTree",
    "ObjectPose",
    "Objects",
    "Transform",
    "arm_state_msg",
    "default_joint_names",
    "link_transforms",
    "object_states_msg",
    "object_transforms",
    "objects_from_msg",
    "objects_from_scene_state",
    "params_from_msgs",
    "simulated_arm_model",
    "skill_param_msgs",
    "tf_message",
    "urdf_from_mujoco",
    "wxyz_to_xyzw",
    "xyzw_to_wxyz",
]

#: ``ArmState.state`` values (``skill_rl.hardware.HalState`` names).
ARM_STATES = ("UNCONFIGURED", "INACTIVE", "ACTIVE", "FAULT", "FINALIZED")

# MuJoCo enum values (mjtJoint, mjtGeom), so this module needs mujoco only where it builds a model.
_FREE, _BALL, _SLIDE, _HINGE = 0, 1, 2, 3
_PLANE, _HFIELD, _SPHERE, _CAPSULE, _ELLIPSOID, _CYLINDER, _BOX, _MESH = range(8)


# ------------------------------------------------------------------------------------------ quaternions
def _quat_array(q: Any, order: str) -> np.ndarray:
    a = np.asarray(q, dtype=np.float64)
    if a.shape[-1:] != (4,):
        raise ValueError(f"a quaternion ({order}) has 4 components, got shape {a.shape}")
    return a


def wxyz_to_xyzw(q: Any) -> np.ndarray:
    """MuJoCo's (w, x, y, z) -> ROS's (x, y, z, w); works on (..., 4) arrays."""
    return _quat_array(q, "wxyz")[..., [1, 2, 3, 0]]


def xyzw_to_wxyz(q: Any) -> np.ndarray:
    """ROS's (x, y, z, w) -> MuJoCo's (w, x, y, z); works on (..., 4) arrays."""
    return _quat_array(q, "xyzw")[..., [3, 0, 1, 2]]


def _qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of two wxyz quaternions (rotation a, then b in a's frame)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array([aw * bw - ax * bx - ay * by - az * bz, aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx, aw * bz + ax * by - ay * bx + az * bw])


def _qmat(q: np.ndarray) -> np.ndarray:
    """Rotation matrix of a wxyz quaternion (normalised first)."""
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    s = math.sin(0.5 * angle)
    return np.array([math.cos(0.5 * angle), *(s * axis / np.linalg.norm(axis))])


def _rpy(q: np.ndarray) -> tuple[float, float, float]:
    """URDF roll, pitch, yaw (fixed axes: R = Rz(yaw) Ry(pitch) Rx(roll)) of a wxyz quaternion."""
    r = _qmat(q)
    pitch = math.atan2(-r[2, 0], math.hypot(r[0, 0], r[1, 0]))
    if math.cos(pitch) > 1e-9:
        return math.atan2(r[2, 1], r[2, 2]), pitch, math.atan2(r[1, 0], r[0, 0])
    return math.atan2(-r[1, 2], r[1, 1]), pitch, 0.0  # gimbal lock: yaw folded into roll


def _num(x: float, digits: int = 12) -> str:
    x = float(x)
    return "0" if abs(x) < 1e-12 else f"{x:.{digits}g}"


def _vec(v: Iterable[float]) -> str:
    return " ".join(_num(x) for x in v)


# ------------------------------------------------------------------------------------------ the arm tree
class Transform(NamedTuple):
    """One TF edge: ``child``'s frame in ``parent``'s: translation m, rotation a unit quaternion x, y, z, w."""

    parent: str
    child: str
    xyz: tuple[float, float, float]
    quat_xyzw: tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class _Joint:
    """A URDF joint: the child link's frame is ``pos``/``quat`` (wxyz) in the parent's at q = 0; a revolute
    joint turns the child about ``axis`` (child frame, through its origin), a prismatic one slides it."""

    name: str
    kind: str  # fixed | revolute | continuous | prismatic
    parent: str
    child: str
    pos: np.ndarray
    quat: np.ndarray
    axis: np.ndarray
    qposadr: int = -1  # the joint's coordinate in MuJoCo's qpos; -1: fixed
    limits: tuple[float, float, float, float] | None = None  # lower, upper, velocity, effort


def default_joint_names(description: RobotDescription) -> dict[str, str]:
    """MuJoCo joint name -> ROS joint name for the tabletop Panda: ``joint<i>`` is the description's i-th
    joint (as ``MujocoArm`` binds them), ``finger_joint1/2`` are ``<robot>_finger_joint1/2`` (as ``arm_hal``
    names them in ``/joint_states``: each finger's opening, m)."""
    names = {f"joint{i + 1}": n for i, n in enumerate(description.joint_names)}
    names.update({f"finger_joint{k}": f"{description.name}_finger_joint{k}" for k in (1, 2)})
    return names


def simulated_arm_model(timestep: float = 0.002) -> Any:
    """The MuJoCo model of the simulated arm (the tabletop scene without objects, as ``MujocoArm`` builds it)."""
    import mujoco

    from skill_rl.envs.tabletop.scene import SceneSpec, build_scene_xml

    return mujoco.MjModel.from_xml_string(build_scene_xml(SceneSpec(objects=(), timestep=timestep)))


class ArmTree:
    """The bodies below ``root_body`` in a MuJoCo model as URDF links and joints, named as ROS sees them.

    model: a ``mujoco.MjModel`` holding the arm (the bare arm or a task scene: only the subtree is used).
    description: the robot description (name or object; default ``"panda"``): joint limits and the names.
    joint_names: MuJoCo joint name -> ROS name (default :func:`default_joint_names`); a moving joint without
    a name is an error. link_prefix: prepended to body and site names (default ``"<robot>_"``).
    world_link: the frame the root link is fixed to (its pose at ``qpos0``); None: the root is the URDF root.
    sites: add a fixed link per site (``grip_site`` -> ``panda_grip_site``: the grip point).

    Limits: the description's for its joints (the model's ranges must agree, as ``MujocoArm`` checks);
    a prismatic joint not in the description (a finger) takes the model's range, half the gripper's
    speed (each finger moves half the width) and the gripper's force.
    """

    def __init__(self, model: Any, root_body: str = "link0", *, description: RobotDescription | str | None = None,
                 joint_names: Mapping[str, str] | None = None, link_prefix: str | None = None,
                 world_link: str | None = "world", sites: bool = True):
        self.model = model
        self.description = (load_description(description or "panda") if not isinstance(description, RobotDescription)
                            else description)
        self.name = self.description.name
        names = dict(default_joint_names(self.description) if joint_names is None else joint_names)
        prefix = f"{self.name}_" if link_prefix is None else link_prefix
        try:
            root = model.body(root_body).id
        except KeyError:
            raise ValueError(f"no body {root_body!r} in the model") from None
        parent_of = model.body_parentid
        subtree = [b for b in range(root, model.nbody) if self._below(b, root)]
        self._link = {b: prefix + model.body(b).name for b in subtree}
        self.root_link = self._link[root]
        self.world_link = world_link
        self.joints: list[_Joint] = []
        if world_link is not None:
            pos, quat = self._world_pose(root)
            self.joints.append(_Joint(f"{world_link}_to_{self.root_link}", "fixed", world_link, self.root_link, pos,
                                      quat, np.zeros(3)))
        for b in subtree[1:]:
            self.joints.append(self._body_joint(b, self._link[parent_of[b]], self._link[b], names))
        self.sites: list[tuple[str, int]] = []  # (link name, site id)
        if sites:
            for s in range(model.nsite):
                body = int(model.site_bodyid[s])
                if body in self._link:
                    link = prefix + model.site(s).name
                    self.sites.append((link, s))
                    self.joints.append(_Joint(f"{link}_joint", "fixed", self._link[body], link,
                                              np.array(model.site_pos[s], dtype=np.float64),
                                              np.array(model.site_quat[s], dtype=np.float64), np.zeros(3)))
        seen: set[str] = set()
        for name in [j.name for j in self.joints] + [j.child for j in self.joints]:
            if name in seen:
                raise ValueError(f"name {name!r} is used twice in the URDF (pass another link_prefix or joint_names)")
            seen.add(name)
        self.joint_names = tuple(j.name for j in self.joints if j.kind != "fixed")
        #: every link, parents before children (the world link first, when there is one)
        self.links = ((world_link,) if world_link else (self.root_link,)) + tuple(j.child for j in self.joints)

    def _below(self, b: int, root: int) -> bool:
        while b != root and b != 0:
            b = int(self.model.body_parentid[b])
        return b == root

    def _world_pose(self, body: int) -> tuple[np.ndarray, np.ndarray]:
        """The body's pose in the world at rest, composed from the fixed body frames above it."""
        m, chain = self.model, []
        while body != 0:
            if m.body_jntnum[body]:
                raise ValueError(f"body {m.body(body).name!r} above the root has a joint: the root link cannot be "
                                 f"fixed to {self.world_link!r} (use world_link=None or a root below it)")
            chain.append(body)
            body = int(m.body_parentid[body])
        pos, quat = np.zeros(3), np.array([1.0, 0, 0, 0])
        for b in reversed(chain):
            pos = pos + _qmat(quat) @ m.body_pos[b]
            quat = _qmul(quat, m.body_quat[b])
        return pos, quat

    def _body_joint(self, b: int, parent: str, child: str, names: Mapping[str, str]) -> _Joint:
        m = self.model
        pos, quat = np.array(m.body_pos[b], dtype=np.float64), np.array(m.body_quat[b], dtype=np.float64)
        n = int(m.body_jntnum[b])
        if n == 0:
            return _Joint(f"{child}_joint", "fixed", parent, child, pos, quat, np.zeros(3))
        if n > 1:
            raise ValueError(f"body {m.body(b).name!r} has {n} joints; a URDF link moves with one")
        j = int(m.body_jntadr[b])
        jtype, mj_name = int(m.jnt_type[j]), m.joint(j).name
        if jtype not in (_HINGE, _SLIDE):
            raise ValueError(f"joint {mj_name!r} is a {'free' if jtype == _FREE else 'ball'} joint; URDF has none")
        if jtype == _HINGE and np.any(np.abs(m.jnt_pos[j]) > 1e-12):
            raise ValueError(f"hinge {mj_name!r} is off its body's origin (pos {m.jnt_pos[j]}); a URDF axis "
                             f"passes through the child link's origin")
        if mj_name not in names:
            raise ValueError(f"joint {mj_name!r} has no ROS name; joint_names maps {sorted(names)}")
        name = names[mj_name]
        lo, hi = (float(x) for x in m.jnt_range[j])
        desc = self.description
        if name in desc.joint_names:
            i = desc.joint_names.index(name)
            lim = desc.limits
            if not bool(m.jnt_limited[j]) or abs(lo - lim.lower[i]) > 1e-4 or abs(hi - lim.upper[i]) > 1e-4:
                raise ValueError(f"joint {mj_name!r} range [{lo}, {hi}] differs from the description's {name} "
                                 f"[{lim.lower[i]}, {lim.upper[i]}] ({desc.source})")
            limits = (float(lim.lower[i]), float(lim.upper[i]), float(lim.velocity[i]), float(lim.effort[i]))
        elif jtype == _SLIDE and bool(m.jnt_limited[j]):
            grip = desc.gripper
            limits = (lo, hi, 0.5 * grip.max_speed, grip.max_force)
        else:
            raise ValueError(f"joint {mj_name!r} ({name}) has no limits: it is not in the description "
                             f"{desc.source} and not a limited finger slide")
        kind = "prismatic" if jtype == _SLIDE else "revolute"
        return _Joint(name, kind, parent, child, pos, quat, np.array(m.jnt_axis[j], dtype=np.float64),
                      int(m.jnt_qposadr[j]), limits)

    # ------------------------------------------------------------------------------------------ URDF
    def urdf(self) -> str:
        """The URDF (XML text): links with visual/collision geometry and inertia, joints with limits."""
        m = self.model
        robot = ET.Element("robot", name=self.name)
        robot.append(ET.Comment(" generated by skill_rl.ros.description from the MuJoCo model of the simulated "
                                "arm; do not edit "))
        materials: dict[tuple[float, ...], str] = {}
        links: dict[str, ET.Element] = {}
        for link in self.links:
            links[link] = ET.SubElement(robot, "link", name=link)
        for b, link in self._link.items():
            self._inertial(links[link], b)
            for g in range(int(m.body_geomadr[b]), int(m.body_geomadr[b]) + int(m.body_geomnum[b])):
                self._geom(links[link], g, materials)
        for i, (rgba, name) in enumerate(materials.items()):
            mat = ET.Element("material", name=name)
            ET.SubElement(mat, "color", rgba=" ".join(_num(c, 6) for c in rgba))  # float32 in MuJoCo
            robot.insert(1 + i, mat)
        for j in self.joints:
            el = ET.SubElement(robot, "joint", name=j.name, type=j.kind)
            ET.SubElement(el, "parent", link=j.parent)
            ET.SubElement(el, "child", link=j.child)
            ET.SubElement(el, "origin", xyz=_vec(j.pos), rpy=_vec(_rpy(j.quat)))
            if j.kind != "fixed":
                ET.SubElement(el, "axis", xyz=_vec(j.axis))
                lo, hi, vel, eff = j.limits  # type: ignore[misc]
                ET.SubElement(el, "limit", lower=_num(lo), upper=_num(hi), velocity=_num(vel), effort=_num(eff))
        ET.indent(robot, space="  ")
        return '<?xml version="1.0"?>\n' + ET.tostring(robot, encoding="unicode") + "\n"

    def _inertial(self, link: ET.Element, b: int) -> None:
        m = self.model
        mass = float(m.body_mass[b])
        if mass <= 0:
            return
        el = ET.SubElement(link, "inertial")
        ET.SubElement(el, "origin", xyz=_vec(m.body_ipos[b]), rpy=_vec(_rpy(m.body_iquat[b])))
        ET.SubElement(el, "mass", value=_num(mass))
        ixx, iyy, izz = m.body_inertia[b]
        ET.SubElement(el, "inertia", ixx=_num(ixx), iyy=_num(iyy), izz=_num(izz), ixy="0", ixz="0", iyz="0")

    def _geom(self, link: ET.Element, g: int, materials: dict[tuple[float, ...], str]) -> None:
        """Visual (MuJoCo's visible groups 0-2) and collision (contype/conaffinity set) elements of one geom:
        boxes, spheres, cylinders as they are; a capsule as a cylinder and two spheres; an ellipsoid or a
        mesh as its bounding box; planes and height fields are left out."""
        m = self.model
        t, size = int(m.geom_type[g]), m.geom_size[g]
        pos, quat = np.array(m.geom_pos[g], dtype=np.float64), np.array(m.geom_quat[g], dtype=np.float64)
        axis = _qmat(quat)[:, 2]
        shapes: list[tuple[np.ndarray, str, dict[str, str]]] = []
        if t == _SPHERE:
            shapes.append((pos, "sphere", {"radius": _num(size[0])}))
        elif t == _CAPSULE:
            shapes.append((pos, "cylinder", {"radius": _num(size[0]), "length": _num(2 * size[1])}))
            for end in (-1, 1):
                shapes.append((pos + end * size[1] * axis, "sphere", {"radius": _num(size[0])}))
        elif t == _CYLINDER:
            shapes.append((pos, "cylinder", {"radius": _num(size[0]), "length": _num(2 * size[1])}))
        elif t in (_BOX, _ELLIPSOID):
            shapes.append((pos, "box", {"size": _vec(2 * size[:3])}))
        elif t == _MESH:
            centre, half = m.geom_aabb[g][:3], m.geom_aabb[g][3:]
            shapes.append((pos + _qmat(quat) @ centre, "box", {"size": _vec(2 * half)}))
        else:
            return
        visual = int(m.geom_group[g]) <= 2
        collision = bool(m.geom_contype[g] or m.geom_conaffinity[g])
        rgba = tuple(float(x) for x in (m.mat_rgba[m.geom_matid[g]] if m.geom_matid[g] >= 0 else m.geom_rgba[g]))
        for p, shape, attrs in shapes:
            for tag, wanted in (("visual", visual), ("collision", collision)):
                if not wanted:
                    continue
                el = ET.SubElement(link, tag)
                ET.SubElement(el, "origin", xyz=_vec(p), rpy=_vec(_rpy(quat)))
                ET.SubElement(ET.SubElement(el, "geometry"), shape, attrs)
                if tag == "visual":
                    name = materials.setdefault(rgba, f"rgba_{len(materials)}")
                    ET.SubElement(el, "material", name=name)

    # ------------------------------------------------------------------------------------------ TF
    def qpos(self, positions: Mapping[str, float] | Sequence[float] | np.ndarray | None = None) -> np.ndarray:
        """A full MuJoCo qpos: ``positions`` as a model qpos (length nq), or ROS joint name -> position
        (``/joint_states``: names not in this tree are ignored, missing joints stay at ``qpos0``)."""
        m = self.model
        if positions is None:
            return np.array(m.qpos0, dtype=np.float64)
        if isinstance(positions, Mapping):
            q = np.array(m.qpos0, dtype=np.float64)
            for j in self.joints:
                if j.qposadr >= 0 and j.name in positions:
                    q[j.qposadr] = float(positions[j.name])
        else:
            q = np.asarray(positions, dtype=np.float64)
            if q.shape != (m.nq,):
                raise ValueError(f"qpos must have the model's {m.nq} coordinates, got shape {q.shape} "
                                 f"(or pass a mapping joint name -> position)")
        if not np.all(np.isfinite(q)):
            raise ValueError(f"joint positions must be finite, got {q}")
        return q

    def transforms(self, positions: Mapping[str, float] | Sequence[float] | np.ndarray | None = None, *,
                   moving: bool | None = None) -> list[Transform]:
        """Each link's frame in its parent's at ``positions`` (see :meth:`qpos`); ``moving``: True only the
        joints that move (``/tf``), False only the fixed ones (``/tf_static``), None all."""
        q = self.qpos(positions)
        out = []
        for j in self.joints:
            if moving is not None and (j.kind != "fixed") != moving:
                continue
            pos, quat = j.pos, j.quat
            if j.kind in ("revolute", "continuous"):
                quat = _qmul(quat, _axis_angle(j.axis, q[j.qposadr]))
            elif j.kind == "prismatic":
                pos = pos + _qmat(quat) @ (j.axis * q[j.qposadr])
            xyzw = wxyz_to_xyzw(quat / np.linalg.norm(quat))
            out.append(Transform(j.parent, j.child, tuple(float(x) for x in pos), tuple(float(x) for x in xyzw)))
        return out


def urdf_from_mujoco(model: Any, root_body: str = "link0", **kwargs: Any) -> str:
    """The URDF of the arm below ``root_body`` in a MuJoCo model (:class:`ArmTree` for the options)."""
    return ArmTree(model, root_body, **kwargs).urdf()


def link_transforms(model: Any, qpos: Mapping[str, float] | Sequence[float] | np.ndarray | None,
                    root_body: str = "link0", **kwargs: Any) -> list[Transform]:
    """Every link's frame in its parent's (what robot_state_publisher publishes) at ``qpos`` (a model qpos,
    or ROS joint name -> position). Building the tree costs more than the transforms: a node that publishes
    at a rate keeps an :class:`ArmTree` and calls its ``transforms``."""
    return ArmTree(model, root_body, **kwargs).transforms(qpos)


# ------------------------------------------------------------------------------------------ objects
class ObjectPose(NamedTuple):
    """One perceived object in the world frame: position m, orientation x, y, z, w, drawer opening m."""

    name: str
    kind: str
    xyz: tuple[float, float, float]
    quat_xyzw: tuple[float, float, float, float]
    opening: float = 0.0

    def pose_wxyz(self) -> list[float]:
        """``[x, y, z, qw, qx, qy, qz]``: MuJoCo's order, as the simulated scene's ``scene_state`` has it."""
        return [*self.xyz, *(float(v) for v in xyzw_to_wxyz(self.quat_xyzw))]


def _unit(q: np.ndarray, what: str) -> np.ndarray:
    n = float(np.linalg.norm(q))
    if not np.all(np.isfinite(q)) or n < 1e-6:
        raise ValueError(f"{what}: not a rotation quaternion: {q.tolist()}")
    return q / n


def objects_from_scene_state(scene_state: Mapping[str, Any]) -> list[ObjectPose]:
    """The objects of a simulated scene's ``scene_state()`` (``skill_rl.ros.scene``), quaternions converted.

    ``scene_state["objects"]`` maps a name to ``[x, y, z, qw, qx, qy, qz]`` (MuJoCo's order) or to
    ``{"pose": [x, y, z, qw, qx, qy, qz], "kind": str, "opening": float}``; ``scene_state["kinds"]``
    (name -> kind), when present, gives the kind of the list form ("" when unknown)."""
    objects = scene_state.get("objects")
    if not isinstance(objects, Mapping):
        raise ValueError(f"scene_state['objects'] must map object names to poses, got {type(objects).__name__}")
    kinds = scene_state.get("kinds") or {}
    out = []
    for name, value in objects.items():
        entry = value if isinstance(value, Mapping) else {"pose": value}
        pose = np.asarray(entry.get("pose", ()), dtype=np.float64)
        if pose.shape != (7,) or not np.all(np.isfinite(pose)):
            raise ValueError(f"object {name!r}: pose must be 7 finite numbers [x, y, z, qw, qx, qy, qz], got {pose.tolist()}")
        quat = wxyz_to_xyzw(_unit(pose[3:], f"object {name!r}"))
        out.append(ObjectPose(str(name), str(entry.get("kind", kinds.get(name, ""))), tuple(float(x) for x in pose[:3]),
                              tuple(float(x) for x in quat), float(entry.get("opening", 0.0))))
    return out


def _object_from_dict(o: Mapping[str, Any]) -> ObjectPose:
    """One entry of ``TabletopSceneArm.object_states()``: ``name``, ``kind``, ``position``, ``quat_wxyz``, ``opening``."""
    name = str(o.get("name", ""))
    pose = np.asarray([*o.get("position", ()), *o.get("quat_wxyz", ())], dtype=np.float64)
    return objects_from_scene_state({"objects": {name: {"pose": pose, "kind": o.get("kind", ""),
                                                         "opening": o.get("opening", 0.0)}}})[0]


#: What the object helpers take: a ``scene_state()`` mapping, ``object_states()``' list of dicts, or ObjectPoses.
Objects = Mapping[str, Any] | Iterable[ObjectPose | Mapping[str, Any]]


def _objects(objects: Objects) -> list[ObjectPose]:
    if isinstance(objects, Mapping):
        return objects_from_scene_state(objects)
    return [o if isinstance(o, ObjectPose) else _object_from_dict(o) for o in objects]


def object_transforms(objects: Objects, world_frame: str = "world") -> list[Transform]:
    """``world_frame`` -> object frames (child frame = the object's name), from :class:`ObjectPose` s,
    ``TabletopSceneArm.object_states()`` or a ``scene_state`` mapping."""
    return [Transform(world_frame, o.name, o.xyz, o.quat_xyzw) for o in _objects(objects)]


# ------------------------------------------------------------------------------------------ messages
def _time(stamp: Any) -> Any:
    """A builtin_interfaces/Time from one (kept), from seconds (float), or None (zero)."""
    from builtin_interfaces.msg import Time

    if stamp is None:
        return Time()
    if isinstance(stamp, Time):
        return stamp
    if hasattr(stamp, "to_msg"):  # rclpy.time.Time
        return stamp.to_msg()
    t = float(stamp)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"a stamp must be a finite time >= 0 s, got {stamp!r}")
    sec = int(t)
    return Time(sec=sec, nanosec=min(int(round((t - sec) * 1e9)), 999_999_999))


def arm_state_msg(state: Mapping[str, Any], stamp: Any = None) -> Any:
    """``skill_interfaces/ArmState`` from ``arm_hal``'s state dict (``state``, ``lifecycle``, ``fault``,
    ``fault_code``, ``motion``, ``owner``, ``robot``, ``backend``, ``joint_names``; None -> "")."""
    from skill_interfaces.msg import ArmState

    value = str(state.get("state", ""))
    if value not in ARM_STATES:
        raise ValueError(f"arm state must be one of {', '.join(ARM_STATES)}, got {value!r}")
    msg = ArmState()
    msg.header.stamp = _time(stamp)
    msg.state = value
    for key in ("lifecycle", "fault_code", "fault", "motion", "owner", "robot", "backend"):
        v = state.get(key)
        setattr(msg, key, "" if v is None else str(v))
    msg.joint_names = [str(n) for n in state.get("joint_names") or ()]
    return msg


def object_states_msg(objects: Objects, stamp: Any, source: str = "sim", frame_id: str = "world") -> Any:
    """``skill_interfaces/ObjectStates`` from :class:`ObjectPose` s, ``TabletopSceneArm.object_states()`` or
    a ``scene_state`` mapping; ``stamp``: when the poses were measured (builtin_interfaces/Time, rclpy Time,
    or seconds)."""
    from skill_interfaces.msg import ObjectState, ObjectStates

    msg = ObjectStates(source=source)
    msg.header.stamp = _time(stamp)
    msg.header.frame_id = frame_id
    for o in _objects(objects):
        s = ObjectState(name=o.name, kind=o.kind, opening=float(o.opening))
        s.pose.position.x, s.pose.position.y, s.pose.position.z = o.xyz
        r = s.pose.orientation
        r.x, r.y, r.z, r.w = o.quat_xyzw
        msg.objects.append(s)
    return msg


def objects_from_msg(msg: Any) -> list[ObjectPose]:
    """The objects of an ``ObjectStates`` (or a list of ``ObjectState``, e.g. ``ExecuteSkill.Result.objects``)."""
    states = msg.objects if hasattr(msg, "objects") else msg
    out = []
    for s in states:
        p, r = s.pose.position, s.pose.orientation
        quat = _unit(np.array([r.x, r.y, r.z, r.w], dtype=np.float64), f"object {s.name!r}")
        out.append(ObjectPose(s.name, s.kind, (p.x, p.y, p.z), tuple(float(x) for x in quat), float(s.opening)))
    return out


def tf_message(transforms: Iterable[Transform], stamp: Any) -> Any:
    """``tf2_msgs/TFMessage`` of :class:`Transform` s, all stamped ``stamp``."""
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    t_msg = _time(stamp)
    msg = TFMessage()
    for t in transforms:
        ts = TransformStamped()
        ts.header.stamp = t_msg
        ts.header.frame_id = t.parent
        ts.child_frame_id = t.child
        v, r = ts.transform.translation, ts.transform.rotation
        v.x, v.y, v.z = (float(x) for x in t.xyz)
        r.x, r.y, r.z, r.w = (float(x) for x in t.quat_xyzw)
        msg.transforms.append(ts)
    return msg


def skill_param_msgs(params: Mapping[str, Any]) -> list[Any]:
    """``SkillParam`` s from a parameter dict: a string is a text parameter, a number or a list of numbers a
    numeric one (SI units). Non-finite numbers are refused here already."""
    from skill_interfaces.msg import SkillParam

    out = []
    for name, value in params.items():
        if isinstance(value, str):
            out.append(SkillParam(name=str(name), text=value))
            continue
        arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
        if arr.ndim != 1 or not np.all(np.isfinite(arr)):
            raise ValueError(f"parameter {name!r} must be a string, a finite number or a flat list of them, got {value!r}")
        out.append(SkillParam(name=str(name), value=arr.tolist()))
    return out


def params_from_msgs(params: Iterable[Any]) -> dict[str, str | list[float]]:
    """The parameter dict of ``SkillParam`` s: text -> str, numbers -> list of floats (a scalar is a list
    of one; the skill's declared parameter says which shape it takes). A name given twice, or with both
    text and numbers, is an error."""
    out: dict[str, str | list[float]] = {}
    for p in params:
        if p.name in out:
            raise ValueError(f"parameter {p.name!r} is given twice")
        if p.text and len(p.value):
            raise ValueError(f"parameter {p.name!r} has both text {p.text!r} and numbers {list(p.value)}")
        out[p.name] = p.text if p.text else [float(x) for x in p.value]
    return out
