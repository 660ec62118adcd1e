"""MJCF for the tabletop: a Panda built from primitive geoms, a table, and the task's objects.

Why primitives instead of meshes: capsules and boxes collide far faster than convex meshes, which is what
lets the env run near the raw ``mj_step`` bound. Link offsets, joint axes and limits follow the Franka Panda's
published kinematics (Craig-convention DH parameters), so end-effector poses match a real arm.

World frame: x forward (away from the robot base), y left, z up; the table top is the plane z = 0 and the
robot base sits at ``ROBOT_BASE`` on it. Units: metres, kilograms, radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

ROBOT_BASE = np.array([-0.56, 0.0, 0.0])
TABLE_HALF_SIZE = np.array([0.45, 0.6, 0.025])
# Franka's documented joint limits (rad).
JOINT_LIMITS = np.array(
    [
        [-2.8973, 2.8973],
        [-1.7628, 1.7628],
        [-2.8973, 2.8973],
        [-3.0718, -0.0698],
        [-2.8973, 2.8973],
        [-0.0175, 3.7525],
        [-2.8973, 2.8973],
    ]
)
# A "ready" posture: gripper pointing down about 0.45 m above the table, fingers opening along world y.
HOME_QPOS = np.array([0.0, -0.25, 0.0, -2.35, 0.0, 2.1, np.pi / 4])
FINGER_MAX_OPENING = 0.04  # per finger, metres (Panda: 8 cm stroke in total)

COLOURS = {
    "red": "0.85 0.15 0.15 1",
    "green": "0.15 0.7 0.2 1",
    "blue": "0.15 0.3 0.85 1",
    "yellow": "0.9 0.8 0.1 1",
    "region": "0.2 0.8 0.3 0.35",
    "wood": "0.55 0.4 0.25 1",
}


@dataclass(frozen=True)
class ObjectSpec:
    """One object in the scene.

    kind: "cube", "cylinder", "region" (a flat target area, no collision), "marker" (a floating sphere,
    no collision) or "drawer" (a cabinet whose
    drawer slides along -x towards the robot). ``size`` is the box half-extent for cubes, (radius,
    half-height) for cylinders, (half-x, half-y) for regions, unused for drawers.

    ``rolling_friction`` (m, cylinders only; 0 = off): MuJoCo's rolling friction (``condim`` 6). Why: a cylinder
    knocked on its side otherwise rolls on for a metre and off the table, and play never comes to rest where the
    push that knocked it ended (docs/play.md, "Session 12").
    """

    name: str
    kind: str
    size: tuple[float, ...] = (0.02,)
    colour: str = "red"
    mass: float = 0.05
    rolling_friction: float = 0.0


@dataclass(frozen=True)
class SceneSpec:
    """What a task puts on the table, plus the physics settings that the env config controls."""

    objects: tuple[ObjectSpec, ...] = field(default_factory=tuple)
    timestep: float = 0.002
    joint_actuator: str = "position"  # "position" (ee/joint position control) or "velocity"
    image_size: int = 128


def _panda_xml(joint_actuator: str) -> tuple[str, str]:
    """Return (body xml, actuator xml) for the arm and its gripper."""
    arm = f"""
    <body name="link0" pos="{ROBOT_BASE[0]} {ROBOT_BASE[1]} {ROBOT_BASE[2]}" childclass="arm">
      <geom type="cylinder" size="0.07 0.07" pos="0 0 0.07" material="white"/>
      <body name="link1" pos="0 0 0.333" gravcomp="1">
        <inertial mass="4.97" pos="0.0039 0.0021 -0.0476" diaginertia="0.7034 0.7066 0.0092"/>
        <joint name="joint1" range="{JOINT_LIMITS[0, 0]} {JOINT_LIMITS[0, 1]}"/>
        <geom type="capsule" fromto="0 0 -0.19 0 0 -0.03" size="0.06" material="white"/>
        <body name="link2" quat="0.7071068 -0.7071068 0 0" gravcomp="1">
          <inertial mass="0.647" pos="-0.0031 -0.0287 0.0035" diaginertia="0.008 0.028 0.026"/>
          <joint name="joint2" range="{JOINT_LIMITS[1, 0]} {JOINT_LIMITS[1, 1]}"/>
          <geom type="capsule" fromto="0 0 -0.05 0 0 0.05" size="0.06" material="white"/>
          <geom type="capsule" fromto="0 0 0 0 -0.2 0" size="0.06" material="white"/>
          <body name="link3" pos="0 -0.316 0" quat="0.7071068 0.7071068 0 0" gravcomp="1">
            <inertial mass="3.229" pos="0.0275 0.0393 -0.0665" diaginertia="0.0372 0.0362 0.0108"/>
            <joint name="joint3" range="{JOINT_LIMITS[2, 0]} {JOINT_LIMITS[2, 1]}"/>
            <geom type="capsule" fromto="0 0 -0.1 0 0 0" size="0.055" material="white"/>
            <geom type="capsule" fromto="0 0 0 0.0825 0 0" size="0.05" material="white"/>
            <body name="link4" pos="0.0825 0 0" quat="0.7071068 0.7071068 0 0" gravcomp="1">
              <inertial mass="3.588" pos="-0.0532 0.1044 0.0275" diaginertia="0.0259 0.0196 0.0283"/>
              <joint name="joint4" range="{JOINT_LIMITS[3, 0]} {JOINT_LIMITS[3, 1]}"/>
              <geom type="capsule" fromto="0 0 -0.04 0 0 0.04" size="0.055" material="dark"/>
              <geom type="capsule" fromto="0 0 0 -0.0825 0.1 0" size="0.05" material="white"/>
              <body name="link5" pos="-0.0825 0.384 0" quat="0.7071068 -0.7071068 0 0" gravcomp="1">
                <inertial mass="1.226" pos="-0.012 0.041 -0.038" diaginertia="0.0355 0.0295 0.0086"/>
                <joint name="joint5" range="{JOINT_LIMITS[4, 0]} {JOINT_LIMITS[4, 1]}"/>
                <geom type="capsule" fromto="0 0 -0.26 0 0 -0.02" size="0.05" material="white"/>
                <geom type="capsule" fromto="0 0.07 -0.22 0 0.07 -0.1" size="0.03" material="white"/>
                <body name="link6" quat="0.7071068 0.7071068 0 0" gravcomp="1">
                  <inertial mass="1.667" pos="0.06 -0.0141 -0.0105" diaginertia="0.002 0.0044 0.0054"/>
                  <joint name="joint6" range="{JOINT_LIMITS[5, 0]} {JOINT_LIMITS[5, 1]}"/>
                  <geom type="capsule" fromto="0 0 -0.03 0 0 0.01" size="0.05" material="white"/>
                  <geom type="capsule" fromto="0 0 0 0.088 0 0" size="0.045" material="white"/>
                  <body name="link7" pos="0.088 0 0" quat="0.7071068 0.7071068 0 0" gravcomp="1">
                    <inertial mass="0.735" pos="0.0105 -0.0043 0.0616" diaginertia="0.0125 0.01 0.0048"/>
                    <joint name="joint7" range="{JOINT_LIMITS[6, 0]} {JOINT_LIMITS[6, 1]}"/>
                    <geom type="cylinder" size="0.045 0.035" pos="0 0 0.07" material="dark"/>
                    <body name="hand" pos="0 0 0.107" quat="0.9238795 0 0 -0.3826834" gravcomp="1">
                      <inertial mass="0.73" pos="-0.01 0 0.03" diaginertia="0.001 0.0025 0.0017"/>
                      <geom type="box" size="0.025 0.1 0.028" pos="0 0 0.03" material="white"/>
                      <site name="grip_site" pos="0 0 0.1034" size="0.005" rgba="1 0 0 0.5" group="4"/>
                      <body name="left_finger" pos="0 0 0.0584" gravcomp="1">
                        <inertial mass="0.015" pos="0 0 0.025" diaginertia="2.4e-6 2.4e-6 7.5e-7"/>
                        <joint name="finger_joint1" class="finger"/>
                        <geom name="left_pad" class="pad" type="box" size="0.011 0.006 0.026" pos="0 0.006 0.027"/>
                      </body>
                      <body name="right_finger" pos="0 0 0.0584" quat="0 0 0 1" gravcomp="1">
                        <inertial mass="0.015" pos="0 0 0.025" diaginertia="2.4e-6 2.4e-6 7.5e-7"/>
                        <joint name="finger_joint2" class="finger"/>
                        <geom name="right_pad" class="pad" type="box" size="0.011 0.006 0.026" pos="0 0.006 0.027"/>
                      </body>
                    </body>
                  </body>
                </body>
              </body>
            </body>
          </body>
        </body>
      </body>
    </body>"""
    # Arm actuators: position servos (kp, kd per joint as on the real Panda's impedance defaults, scaled)
    # or velocity servos; gravity is compensated by the bodies' gravcomp so both track without windup.
    gains = [(4500, 110, 87), (4500, 110, 87), (3500, 90, 87), (3500, 90, 87), (2000, 50, 12), (2000, 50, 12), (2000, 50, 12)]
    lines = []
    for i, (kp, kd, fmax) in enumerate(gains):
        lo, hi = JOINT_LIMITS[i]
        if joint_actuator == "position":
            lines.append(
                f'<general name="act{i + 1}" joint="joint{i + 1}" gainprm="{kp}" biasprm="0 -{kp} -{kd}" '
                f'biastype="affine" ctrlrange="{lo} {hi}" forcerange="-{fmax} {fmax}"/>'
            )
        elif joint_actuator == "velocity":
            kv = kd * 0.5
            lines.append(
                f'<general name="act{i + 1}" joint="joint{i + 1}" gainprm="{kv}" biasprm="0 0 -{kv}" '
                f'biastype="affine" ctrlrange="-2.175 2.175" forcerange="-{fmax} {fmax}"/>'
            )
        else:
            raise ValueError(f"joint_actuator must be 'position' or 'velocity', got {joint_actuator!r}")
    # Gripper: one position servo on the finger-average tendon; the equality keeps both fingers symmetric.
    lines.append(
        f'<general name="gripper" tendon="split" gainprm="1500" biasprm="0 -1500 -40" biastype="affine" '
        f'ctrlrange="0 {FINGER_MAX_OPENING}" forcerange="-40 40"/>'
    )
    return arm, "\n    ".join(lines)


def _object_xml(obj: ObjectSpec) -> str:
    rgba = COLOURS.get(obj.colour, obj.colour)
    if not (math.isfinite(obj.rolling_friction) and obj.rolling_friction >= 0):
        raise ValueError(f"{obj.name}: rolling_friction must be a finite number >= 0 (m), got {obj.rolling_friction}")
    if obj.rolling_friction > 0 and obj.kind != "cylinder":
        raise ValueError(f"{obj.name}: rolling_friction is for cylinders, not {obj.kind!r} objects")
    if obj.kind == "cube":
        s = obj.size[0]
        return (
            f'<body name="{obj.name}" pos="0 0 {s}"><freejoint name="{obj.name}_joint"/>'
            f'<geom name="{obj.name}_geom" class="object" type="box" size="{s} {s} {s}" mass="{obj.mass}" rgba="{rgba}"/></body>'
        )
    if obj.kind == "cylinder":
        r, h = obj.size
        rolling = f'condim="6" friction="1 0.02 {obj.rolling_friction}" ' if obj.rolling_friction > 0 else ""
        return (
            f'<body name="{obj.name}" pos="0 0 {h}"><freejoint name="{obj.name}_joint"/>'
            f'<geom name="{obj.name}_geom" class="object" {rolling}type="cylinder" size="{r} {h}" mass="{obj.mass}" rgba="{rgba}"/></body>'
        )
    if obj.kind == "region":
        hx, hy = obj.size
        return (
            f'<body name="{obj.name}" pos="0 0 0"><geom name="{obj.name}_geom" type="box" size="{hx} {hy} 0.0005" '
            f'pos="0 0 0.0005" contype="0" conaffinity="0" rgba="{rgba}"/></body>'
        )
    if obj.kind == "drawer":
        return _drawer_xml(obj.name, rgba)
    if obj.kind == "marker":
        return (
            f'<body name="{obj.name}" pos="0 0 0.2"><geom name="{obj.name}_geom" type="sphere" size="{obj.size[0]}" '
            f'contype="0" conaffinity="0" rgba="{rgba}"/></body>'
        )
    raise ValueError(f"unknown object kind {obj.kind!r}; expected one of cube, cylinder, region, marker, drawer")


def _drawer_xml(name: str, rgba: str) -> str:
    """A cabinet (fixed) whose drawer slides out along -x, towards the robot; the handle is a vertical bar.

    The body frame is the cabinet's front-bottom-centre on the table. Joint ``<name>_slide`` is the
    opening in metres (0 closed, 0.16 fully open).
    """
    w, d, h = 0.12, 0.12, 0.07  # cabinet half-width (y), half-depth (x), height (z)
    t = 0.008
    return f"""<body name="{name}" pos="0 0 0">
      <geom class="furniture_static" type="box" size="{d} {w} {t / 2}" pos="{d} 0 {h + t / 2}" rgba="{rgba}"/>
      <geom class="furniture_static" type="box" size="{d} {t / 2} {h / 2}" pos="{d} {w - t / 2} {h / 2}" rgba="{rgba}"/>
      <geom class="furniture_static" type="box" size="{d} {t / 2} {h / 2}" pos="{d} {-w + t / 2} {h / 2}" rgba="{rgba}"/>
      <geom class="furniture_static" type="box" size="{t / 2} {w} {h / 2}" pos="{2 * d - t / 2} 0 {h / 2}" rgba="{rgba}"/>
      <body name="{name}_drawer" pos="0 0 0">
        <joint name="{name}_slide" type="slide" axis="-1 0 0" range="0 0.16" damping="8" armature="0.5"/>
        <geom class="furniture" type="box" size="{d - t} {w - t} {t / 2}" pos="{d} 0 {t}" mass="0.3" rgba="0.8 0.75 0.6 1"/>
        <geom class="furniture" type="box" size="{t / 2} {w - t} {h / 2 - t}" pos="{t / 2} 0 {h / 2}" mass="0.1" rgba="0.8 0.75 0.6 1"/>
        <geom class="furniture" type="box" size="{t / 2} {w - t} {h / 2 - 2 * t}" pos="{2 * d - 2 * t} 0 {h / 2}" mass="0.05" rgba="0.8 0.75 0.6 1"/>
        <geom class="furniture" type="box" size="{d - t} {t / 2} {h / 2 - 2 * t}" pos="{d} {w - 1.5 * t} {h / 2}" mass="0.05" rgba="0.8 0.75 0.6 1"/>
        <geom class="furniture" type="box" size="{d - t} {t / 2} {h / 2 - 2 * t}" pos="{d} {-w + 1.5 * t} {h / 2}" mass="0.05" rgba="0.8 0.75 0.6 1"/>
        <geom class="furniture" type="box" size="0.02 0.006 0.006" pos="-0.02 0 {h / 2}" mass="0.01" rgba="0.3 0.3 0.3 1"/>
        <geom name="{name}_handle" class="furniture" type="box" size="0.008 0.008 0.025" pos="-0.045 0 {h / 2 + 0.012}" mass="0.01" rgba="0.3 0.3 0.3 1"/>
        <site name="{name}_handle_site" pos="-0.045 0 {h / 2 + 0.025}" size="0.004" group="4"/>
      </body>
    </body>"""


def build_scene_xml(spec: SceneSpec) -> str:
    """Compose the full MJCF string for a scene."""
    arm, actuators = _panda_xml(spec.joint_actuator)
    objects = "\n    ".join(_object_xml(o) for o in spec.objects)
    tx, ty, tz = TABLE_HALF_SIZE
    img = spec.image_size
    return f"""<mujoco model="skill_rl_tabletop">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{spec.timestep}" integrator="implicitfast" cone="pyramidal" impratio="1">
    <flag warmstart="enable"/>
  </option>
  <size memory="4M"/>
  <visual><global offwidth="{max(img, 640)}" offheight="{max(img, 480)}"/><quality shadowsize="1024"/></visual>
  <default>
    <default class="arm">
      <joint axis="0 0 1" armature="0.1" damping="1"/>
      <!-- Collision bits: 1 static world, 2 arm, 4 free objects, 8 moving furniture. Arm links touch
           everything but each other (no self-contacts to solve); furniture parts never touch the table. -->
      <geom contype="2" conaffinity="13" group="1" density="0"/>
      <default class="finger"><joint type="slide" axis="0 1 0" range="0 {FINGER_MAX_OPENING}" armature="0.01" damping="2"/></default>
      <default class="pad"><geom condim="4" friction="1.5 0.02 0.0001" solref="0.01 1" rgba="0.25 0.25 0.25 1" density="0"/></default>
    </default>
    <default class="object"><geom contype="4" conaffinity="15" condim="4" friction="1 0.02 0.0001" solref="0.01 1"/></default>
    <default class="furniture_static"><geom contype="1" conaffinity="6" condim="3"/></default>
    <default class="furniture"><geom contype="8" conaffinity="6" condim="3" friction="1 0.005 0.0001"/></default>
  </default>
  <asset>
    <material name="white" rgba="0.92 0.93 0.94 1"/>
    <material name="dark" rgba="0.25 0.25 0.25 1"/>
    <texture name="grid" type="2d" builtin="checker" rgb1="0.55 0.45 0.35" rgb2="0.5 0.4 0.3" width="256" height="256"/>
    <material name="table" texture="grid" texrepeat="4 4"/>
  </asset>
  <worldbody>
    <light name="top" pos="0 0 2" dir="0 0 -1" directional="true"/>
    <camera name="front" pos="0.62 0 0.52" xyaxes="0 1 0 -0.5 0 0.866" fovy="50"/>
    <camera name="overhead" pos="0 0 1.2" xyaxes="1 0 0 0 1 0"/>
    <camera name="side" pos="0 -1.0 0.5" xyaxes="1 0 0 0 0.45 0.9"/>
    <geom name="table" type="box" size="{tx} {ty} {tz}" pos="0 0 {-tz}" material="table" contype="1" conaffinity="6"/>
    {arm}
    {objects}
  </worldbody>
  <contact><exclude body1="link7" body2="hand"/></contact>
  <tendon>
    <fixed name="split"><joint joint="finger_joint1" coef="0.5"/><joint joint="finger_joint2" coef="0.5"/></fixed>
  </tendon>
  <equality>
    <joint joint1="finger_joint1" joint2="finger_joint2" solimp="0.95 0.99 0.001" solref="0.005 1"/>
  </equality>
  <actuator>
    {actuators}
  </actuator>
</mujoco>"""
