"""Robot description: joints, limits, workspace, gripper and kinematics, loaded from YAML (numpy + yaml).

``load_description("panda")`` reads ``robots/panda.yaml`` (shipped in this package); ``load_description(path)`` any file.
Every value is validated on load; a malformed file raises ``DescriptionError`` naming the file and the key
(``joints.position_limits must have shape (7, 2) ...``), unknown keys included (typos fail loudly).

Frames and units: the base frame is the robot's link0 frame (x forward, z up); lengths in metres, angles in
radians. Forward kinematics uses Craig's (modified) DH convention, as Franka documents the Panda:
``T_i = RotX(alpha_i) TransX(a_i) RotZ(q_i) TransZ(d_i)``, then the flange ``TransZ(flange_d)``, then the tool
(grip point) ``RotZ(tool_rot_z) Trans(tool_offset)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from .types import DescriptionError

__all__ = [
    "DHKinematics",
    "GripperSpec",
    "JointLimits",
    "RobotDescription",
    "Workspace",
    "available_descriptions",
    "description_path",
    "load_description",
]

# Robot descriptions ship inside the package (package data), so a wheel install finds them too.
ROBOTS_DIR = Path(__file__).resolve().parent / "robots"


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, dtype=np.float64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class JointLimits:
    """Per-joint limits, arrays of shape (n,): lower/upper rad, velocity rad/s, acceleration rad/s^2,
    effort N*m (the limits are magnitudes: |v| <= velocity)."""

    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray
    effort: np.ndarray


@dataclass(frozen=True, eq=False)
class Workspace:
    """Axis-aligned box in the base frame (m) that the tool points must stay in."""

    lower: np.ndarray  # (3,)
    upper: np.ndarray  # (3,)

    def contains(self, point: np.ndarray, margin: float = 0.0) -> bool:
        p = np.asarray(point)
        return bool(np.all(p >= self.lower + margin) and np.all(p <= self.upper - margin))

    def violation(self, point: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Per-axis distance outside the (shrunk) box, (3,) m; zeros inside."""
        p = np.asarray(point)
        return np.maximum(self.lower + margin - p, 0.0) + np.maximum(p - (self.upper - margin), 0.0)


@dataclass(frozen=True)
class GripperSpec:
    """Parallel gripper: opening width range (m, between the fingers), max speed (m/s), max force (N)."""

    min_width: float
    max_width: float
    max_speed: float
    max_force: float


def _rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1.0]])


def _rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])


def _trans(x: float, y: float, z: float) -> np.ndarray:
    t = np.eye(4)
    t[:3, 3] = (x, y, z)
    return t


@dataclass(frozen=True, eq=False)
class DHKinematics:
    """Craig (modified) DH chain: ``a``, ``d``, ``alpha`` (n,) in m/rad; ``flange_d`` m along the last z;
    the tool (grip point) frame is ``RotZ(tool_rot_z) @ Trans(tool_offset)`` in the flange frame."""

    a: np.ndarray
    d: np.ndarray
    alpha: np.ndarray
    flange_d: float
    tool_offset: np.ndarray  # (3,) m, in the (rotated) flange frame
    tool_rot_z: float  # rad
    #: m along the tool z beyond the grip point to the fingertips' ends (0: no fingertip point). With it the
    #: fingertips are a third point the workspace box must contain, so the floor keeps them off the table.
    fingertip_offset: float = 0.0
    _A: list[np.ndarray] = field(init=False, repr=False)
    _D: list[np.ndarray] = field(init=False, repr=False)
    _flange: np.ndarray = field(init=False, repr=False)
    _tool: np.ndarray = field(init=False, repr=False)
    _points: list[tuple[str, np.ndarray]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Constant parts of each link transform, precomputed: T_i = A_i @ RotZ(q_i) @ D_i.
        object.__setattr__(self, "_A", [_rot_x(al) @ _trans(a, 0, 0) for a, al in zip(self.a, self.alpha, strict=True)])
        object.__setattr__(self, "_D", [_trans(0, 0, d) for d in self.d])
        tool = _trans(0, 0, self.flange_d) @ _rot_z(self.tool_rot_z) @ _trans(*self.tool_offset)
        object.__setattr__(self, "_flange", _trans(0, 0, self.flange_d))
        object.__setattr__(self, "_tool", tool)
        points = [("flange", self._flange), ("grip point", tool)]
        if self.fingertip_offset > 0:
            points.append(("fingertips", tool @ _trans(0, 0, self.fingertip_offset)))
        object.__setattr__(self, "_points", points)

    @property
    def n_joints(self) -> int:
        return len(self.a)

    def link_frames(self, q: np.ndarray) -> list[np.ndarray]:
        """The n joint frames in the base frame, each 4x4 (frame i rotates about its z by q[i])."""
        q = np.asarray(q, dtype=np.float64)
        if q.shape != (self.n_joints,):
            raise ValueError(f"q must have shape ({self.n_joints},), got {q.shape}")
        frames, t = [], np.eye(4)
        for i in range(self.n_joints):
            t = t @ self._A[i] @ _rot_z(float(q[i])) @ self._D[i]
            frames.append(t)
        return frames

    def flange(self, q: np.ndarray) -> np.ndarray:
        """4x4 pose of the flange in the base frame."""
        return self.link_frames(q)[-1] @ self._flange

    def tool(self, q: np.ndarray) -> np.ndarray:
        """4x4 pose of the tool (grip point) in the base frame."""
        return self.link_frames(q)[-1] @ self._tool

    def tool_points(self, q: np.ndarray) -> dict[str, np.ndarray]:
        """Positions (3,) m in the base frame of the points the workspace box must contain."""
        last = self.link_frames(q)[-1]
        return {name: (last @ local)[:3, 3] for name, local in self._points}

    def tool_point_jacobians(self, q: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each tool point's position (3,) m and positional Jacobian (3, n) m/rad in the base frame.

        Column i is ``z_i x (p - o_i)`` (joint i turns about the z axis of its frame, through its origin).
        The safety filter uses it to slide along a workspace wall instead of stopping dead at it."""
        frames = self.link_frames(q)
        last = frames[-1]
        axes = np.array([f[:3, 2] for f in frames])  # (n, 3)
        origins = np.array([f[:3, 3] for f in frames])
        out = {}
        for name, local in self._points:
            p = (last @ local)[:3, 3]
            out[name] = (p, np.cross(axes, p - origins).T)
        return out


@dataclass(frozen=True, eq=False)
class RobotDescription:
    """Everything the HAL and the safety filter need to know about one arm (validated, read-only)."""

    name: str
    joint_names: tuple[str, ...]
    limits: JointLimits
    workspace: Workspace
    nominal_rate_hz: float
    home: np.ndarray  # (n,) rad
    gripper: GripperSpec
    kinematics: DHKinematics
    safety: Mapping[str, Any]  # raw `safety:` section; SafetyConfig.from_description() validates it
    source: str = "<dict>"

    @property
    def n_joints(self) -> int:
        return len(self.joint_names)

    @property
    def period(self) -> float:
        """Nominal control period, s."""
        return 1.0 / self.nominal_rate_hz

    def fk(self, q: np.ndarray) -> np.ndarray:
        """4x4 pose of the grip point (tool frame) in the base frame for joint positions ``q`` (n,) rad."""
        return self.kinematics.tool(q)

    def fk_flange(self, q: np.ndarray) -> np.ndarray:
        """4x4 pose of the flange in the base frame."""
        return self.kinematics.flange(q)

    # ------------------------------------------------------------ loading
    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> RobotDescription:
        """Validate a parsed YAML mapping; errors name ``source`` and the offending key."""
        return _Parser(source).description(data)


# ---------------------------------------------------------------- validation
_TOP_KEYS = {"name", "joints", "workspace", "control", "home", "gripper", "kinematics", "safety"}
_JOINT_KEYS = {"names", "position_limits", "velocity_limits", "acceleration_limits", "effort_limits"}
_WORKSPACE_KEYS = {"lower", "upper"}
_CONTROL_KEYS = {"nominal_rate_hz"}
_GRIPPER_KEYS = {"width_range", "max_speed", "max_force"}
_KIN_KEYS = {"convention", "a", "d", "alpha", "flange_d", "tool_offset", "tool_rot_z", "fingertip_offset"}


class _Parser:
    def __init__(self, source: str):
        self.source = source

    def error(self, key: str, message: str) -> DescriptionError:
        return DescriptionError(f"{self.source}: {key}: {message}")

    def mapping(self, data: Any, key: str, keys: set[str], optional: frozenset[str] = frozenset()) -> Mapping:
        if not isinstance(data, Mapping):
            raise self.error(key or "top level", f"must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(map(str, data)) - keys)
        if unknown:
            prefix = f"{key}." if key else ""
            raise self.error(
                f"{prefix}{unknown[0]}", f"unknown key; valid keys here: {', '.join(sorted(keys))}"
            )
        for k in sorted(keys - optional):
            if k not in data:
                raise DescriptionError(f"{self.source}: missing key '{key + '.' if key else ''}{k}'")
        return data

    def array(self, value: Any, key: str, shape: tuple[int, ...], what: str = "") -> np.ndarray:
        try:
            arr = np.array(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise self.error(key, f"must be numbers{what}, got {value!r}") from None
        if arr.shape != shape:
            raise self.error(key, f"must have shape {shape}{what}, got shape {arr.shape}: {value!r}")
        if not np.all(np.isfinite(arr)):
            raise self.error(key, f"must be finite numbers, got {value!r}")
        return _frozen(arr)

    def number(self, value: Any, key: str, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(key, f"must be a finite number, got {value!r}")
        if positive and value <= 0:
            raise self.error(key, f"must be > 0, got {value!r}")
        return float(value)

    def description(self, data: Any) -> RobotDescription:
        top = self.mapping(data, "", _TOP_KEYS, optional=frozenset({"safety"}))
        name = top["name"]
        if not isinstance(name, str) or not name:
            raise self.error("name", f"must be a non-empty string, got {name!r}")

        joints = self.mapping(top["joints"], "joints", _JOINT_KEYS)
        names = joints["names"]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise self.error("joints.names", f"must be a non-empty list of strings, got {names!r}")
        if len(set(names)) != len(names):
            raise self.error("joints.names", f"must be unique, got {names!r}")
        n = len(names)
        per_joint = f" (one per joint in joints.names, {n})"
        pos = self.array(joints["position_limits"], "joints.position_limits", (n, 2), f" ([lower, upper] per joint, {n} joints)")
        for i, (lo, hi) in enumerate(pos):
            if not lo < hi:
                raise self.error("joints.position_limits", f"joint {names[i]!r}: lower {lo} must be < upper {hi}")
        arrays = {}
        for k in ("velocity_limits", "acceleration_limits", "effort_limits"):
            arr = self.array(joints[k], f"joints.{k}", (n,), per_joint)
            bad = np.flatnonzero(arr <= 0)
            if bad.size:
                raise self.error(f"joints.{k}", f"joint {names[bad[0]]!r}: must be > 0, got {arr[bad[0]]}")
            arrays[k] = arr
        limits = JointLimits(
            lower=_frozen(pos[:, 0]), upper=_frozen(pos[:, 1]), velocity=arrays["velocity_limits"],
            acceleration=arrays["acceleration_limits"], effort=arrays["effort_limits"],
        )

        ws = self.mapping(top["workspace"], "workspace", _WORKSPACE_KEYS)
        lower = self.array(ws["lower"], "workspace.lower", (3,), " (x, y, z in m)")
        upper = self.array(ws["upper"], "workspace.upper", (3,), " (x, y, z in m)")
        if not np.all(lower < upper):
            axis = "xyz"[int(np.flatnonzero(lower >= upper)[0])]
            raise self.error("workspace", f"lower must be < upper on every axis; axis {axis}: {lower} vs {upper}")

        control = self.mapping(top["control"], "control", _CONTROL_KEYS)
        rate = self.number(control["nominal_rate_hz"], "control.nominal_rate_hz", positive=True)

        home = self.array(top["home"], "home", (n,), per_joint)
        outside = np.flatnonzero((home < limits.lower) | (home > limits.upper))
        if outside.size:
            i = int(outside[0])
            raise self.error("home", f"joint {names[i]!r}: {home[i]} rad is outside its limits "
                                     f"[{limits.lower[i]}, {limits.upper[i]}]")

        grip = self.mapping(top["gripper"], "gripper", _GRIPPER_KEYS)
        wr = self.array(grip["width_range"], "gripper.width_range", (2,), " ([min, max] in m)")
        if not 0 <= wr[0] < wr[1]:
            raise self.error("gripper.width_range", f"must satisfy 0 <= min < max, got {wr.tolist()}")
        gripper = GripperSpec(
            min_width=float(wr[0]), max_width=float(wr[1]),
            max_speed=self.number(grip["max_speed"], "gripper.max_speed", positive=True),
            max_force=self.number(grip["max_force"], "gripper.max_force", positive=True),
        )

        kin = self.mapping(top["kinematics"], "kinematics", _KIN_KEYS, optional=frozenset({"fingertip_offset"}))
        if kin["convention"] != "craig_dh":
            raise self.error("kinematics.convention", f"only 'craig_dh' (modified DH) is supported, got {kin['convention']!r}")
        kinematics = DHKinematics(
            a=self.array(kin["a"], "kinematics.a", (n,), per_joint),
            d=self.array(kin["d"], "kinematics.d", (n,), per_joint),
            alpha=self.array(kin["alpha"], "kinematics.alpha", (n,), per_joint),
            flange_d=self.number(kin["flange_d"], "kinematics.flange_d"),
            tool_offset=self.array(kin["tool_offset"], "kinematics.tool_offset", (3,), " (x, y, z in m)"),
            tool_rot_z=self.number(kin["tool_rot_z"], "kinematics.tool_rot_z"),
            fingertip_offset=self.number(kin.get("fingertip_offset", 0.0), "kinematics.fingertip_offset"),
        )
        if kinematics.fingertip_offset < 0:
            raise self.error("kinematics.fingertip_offset", f"must be >= 0 m, got {kinematics.fingertip_offset}")
        safety = top.get("safety") or {}
        if not isinstance(safety, Mapping):
            raise self.error("safety", f"must be a mapping, got {type(safety).__name__}")
        return RobotDescription(
            name=name, joint_names=tuple(names), limits=limits, workspace=Workspace(lower, upper),
            nominal_rate_hz=rate, home=home, gripper=gripper, kinematics=kinematics, safety=dict(safety),
            source=self.source,
        )


# ---------------------------------------------------------------- files
def available_descriptions() -> list[str]:
    """Names of the descriptions shipped in ``skill_rl/hardware/robots/``."""
    return sorted(p.stem for p in ROBOTS_DIR.glob("*.yaml")) if ROBOTS_DIR.is_dir() else []


def description_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A description file: an existing path as given, else ``robots/<name>.yaml`` shipped in this package."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.is_file():
            raise DescriptionError(f"robot description file {str(p)!r} does not exist")
        return p
    candidate = ROBOTS_DIR / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    names = ", ".join(available_descriptions()) or f"none (no {ROBOTS_DIR})"
    raise DescriptionError(f"unknown robot description {str(name_or_path)!r}; available: {names}")


def load_description(name_or_path: str | os.PathLike[str] = "panda") -> RobotDescription:
    """Load and validate a robot description by name (``"panda"``) or path."""
    path = description_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise DescriptionError(f"{path}: not valid YAML: {e}") from None
    return RobotDescription.from_dict(data, source=str(path))
