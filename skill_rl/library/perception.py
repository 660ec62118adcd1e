"""Perceived state -> the task env's observation vector and predicates, through a kinematic copy of the env.

On an arm nothing is simulated: a tracker (AprilTag, mocap, or the simulated scene's publisher) reports
named object poses and the HAL reports joint positions. Learned skills need the env's exact observation
vector and the planner needs the predicates (``On``, ``In``, ``Open``, ...), so :class:`KinematicScene`
poses a private copy of the task env at the perceived state (arm joints, finger openings, free objects'
poses, regions' and cabinets' positions, drawer openings), runs MuJoCo's forward kinematics and collision
detection (never a physics step) and reads the observation and the predicates from it, exactly as in
simulation.

Quaternions are wxyz (MuJoCo's order): convert a ROS ``geometry_msgs`` xyzw quaternion at the boundary.
Contacts come from the posed geometry, so ``On(a, b)`` with a tracker needs poses accurate to about a
millimetre (the stacked cubes must touch); a noisy tracker should snap stacks before calling this.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from skill_rl.errors import UserError

from .catalog import atom_holds, scene_kinds

__all__ = ["KinematicScene", "PerceivedObject", "PerceivedState", "PerceptionError"]

FREE = ("cube", "cylinder")


class PerceptionError(UserError):
    """A perceived state that cannot be used: missing, unknown or non-finite poses, wrong sizes."""


@dataclass(frozen=True)
class PerceivedObject:
    """One perceived object: ``position`` (x, y, z; world, m; for a cabinet its base body), ``quat_wxyz``
    (orientation; used for cubes and cylinders, ignored for regions and cabinets), ``opening`` (a cabinet's
    drawer opening, m; ignored otherwise), ``kind`` (checked against the scene when given)."""

    name: str
    position: Sequence[float]
    quat_wxyz: Sequence[float] = (1.0, 0.0, 0.0, 0.0)
    kind: str = ""
    opening: float | None = None


@dataclass(frozen=True)
class PerceivedState:
    """What a robot cell perceives at one instant.

    ``joint_positions``: the 7 arm joints (rad, the HAL's order); ``finger_positions``: each finger's opening
    (m, 0..0.04; the observation's ``gripper_qpos``); ``objects``: every object of the scene
    (:class:`PerceivedObject`); ``joint_velocities``: rad/s (default zeros); ``stamp``: when it was perceived
    (the caller's clock, s), for the caller's staleness checks.
    """

    joint_positions: Sequence[float]
    finger_positions: Sequence[float]
    objects: Sequence[PerceivedObject]
    joint_velocities: Sequence[float] | None = None
    stamp: float | None = None


def _vector(value: Any, size: int | tuple[int, ...], what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    sizes = (size,) if isinstance(size, int) else size
    if arr.size not in sizes:
        raise PerceptionError(f"{what}: expected {' or '.join(map(str, sizes))} numbers, got {arr.size}")
    if not np.isfinite(arr).all():
        raise PerceptionError(f"{what}: not finite ({arr.tolist()})")
    return arr


class KinematicScene:
    """A kinematic (never stepped) copy of a tabletop task env, posed from perception.

    ``KinematicScene(env)`` takes an env instance of its own (it is reset once and then only posed);
    ``KinematicScene.like(env)`` builds one of the same scene. ``set_state(perceived)`` poses it and returns
    the observation vector; ``env`` is then at that state for predicates (``holds``, or
    ``skill_rl.planning.symbolic.abstract_state(scene.env)``) and for skills loaded into it.
    """

    def __init__(self, env: Any) -> None:
        self.env = env
        self.base = env.unwrapped
        self.base.reset(seed=0)  # sets the task's parameters; every pose is overwritten by set_state
        self.kinds = scene_kinds(env)
        self.layout = dict(self.base.obs_layout)
        m = self.base.model
        self._free = {n: int(m.jnt_qposadr[m.joint(f"{n}_joint").id]) for n, k in self.kinds.items() if k in FREE}
        self._slide = {n: int(m.jnt_qposadr[m.joint(f"{n}_slide").id]) for n, k in self.kinds.items() if k == "drawer"}
        self._static = {n: m.body(n).id for n, k in self.kinds.items() if k in ("region", "drawer")}
        self.obs: np.ndarray | None = None

    @classmethod
    def like(cls, env: Any) -> KinematicScene:
        """A kinematic scene of the same task as ``env`` (a task scene or a registered tabletop task)."""
        base = env.unwrapped
        config = dataclasses.replace(base.config)
        spec = getattr(base, "task_spec", None)
        if spec is not None:
            from skill_rl.envs.tabletop.taskscene import TaskSceneEnv

            return cls(TaskSceneEnv(spec, config=config))
        return cls(type(base)(config=config))

    # ------------------------------------------------------------------ posing
    def set_state(self, state: PerceivedState) -> np.ndarray:
        """Pose the copy at ``state``; returns the env's observation vector (float32). Raises
        :class:`PerceptionError` for missing, unknown or non-finite values (nothing is guessed)."""
        b = self.base
        m = b.model
        objects = {o.name: o for o in state.objects}
        unknown = sorted(set(objects) - set(self.kinds))
        if unknown:
            raise PerceptionError(f"poses of unknown object(s) {', '.join(unknown)}; this scene has "
                                  f"{', '.join(self.kinds)}")
        missing = [n for n in self.kinds if n not in objects]
        missing += [f"{n} (drawer opening)" for n in self._slide if n in objects and objects[n].opening is None]
        if missing:
            raise PerceptionError(f"no perceived pose for {', '.join(missing)}: every object of the scene is needed")
        wrong = [f"{n} is a {o.kind} here, the scene's is a {self.kinds[n]}" for n, o in objects.items()
                 if o.kind and o.kind != self.kinds[n]]
        if wrong:
            raise PerceptionError(f"perceived kinds differ from the scene: {'; '.join(wrong)}")
        qpos = b.data.qpos.copy()
        qvel = np.zeros_like(b.data.qvel)
        qpos[b.arm_qadr] = _vector(state.joint_positions, 7, "joint_positions")
        qpos[b.finger_qadr] = _vector(state.finger_positions, 2, "finger_positions")
        if state.joint_velocities is not None:
            qvel[b.arm_dadr] = _vector(state.joint_velocities, 7, "joint_velocities")
        for name, adr in self._free.items():
            quat = _vector(objects[name].quat_wxyz, 4, f"quat_wxyz of {name}")
            norm = float(np.linalg.norm(quat))
            if norm < 1e-6:
                raise PerceptionError(f"quat_wxyz of {name}: zero quaternion")
            qpos[adr:adr + 3] = _vector(objects[name].position, 3, f"position of {name}")
            qpos[adr + 3:adr + 7] = quat / norm
        for name, body in self._static.items():
            m.body_pos[body] = _vector(objects[name].position, 3, f"position of {name}")
        for name, adr in self._slide.items():
            qpos[adr] = float(_vector(objects[name].opening, 1, f"drawer opening of {name}")[0])
        self.obs = np.asarray(b.restore_state(qpos, qvel), dtype=np.float32)
        return self.obs

    def state_from_obs(self, obs: Any) -> PerceivedState:
        """The perceived state an observation vector of this scene describes (for posing from an observation,
        e.g. a recorded one). A cabinet's base position is recovered from its handle and opening."""
        o = np.asarray(obs["state"] if isinstance(obs, dict) else obs, dtype=np.float64)
        lay = self.layout
        objects = []
        for name, kind in self.kinds.items():
            if kind in FREE:
                objects.append(PerceivedObject(name, o[lay[f"{name}_pos"]].tolist(), o[lay[f"{name}_quat"]].tolist(),
                                               kind))
            elif kind == "region":
                objects.append(PerceivedObject(name, o[lay[f"{name}_pos"]].tolist(), kind=kind))
            else:
                opening = float(o[lay[f"{name}_opening"]][0])
                base = o[lay[f"{name}_handle_pos"]] - self._handle_offset(name, opening)
                objects.append(PerceivedObject(name, base.tolist(), kind=kind, opening=opening))
        return PerceivedState(o[lay["joint_pos"]].tolist(), o[lay["gripper_qpos"]].tolist(), tuple(objects),
                              o[lay["joint_vel"]].tolist())

    def _handle_offset(self, drawer: str, opening: float) -> np.ndarray:
        """Handle position minus cabinet base position at ``opening`` (fixed geometry)."""
        import mujoco

        m = self.base.model
        data = mujoco.MjData(m)
        data.qpos[self._slide[drawer]] = opening
        mujoco.mj_kinematics(m, data)
        site = m.site(f"{drawer}_handle_site").id
        return data.site_xpos[site] - data.xpos[self._static[drawer]]

    # ------------------------------------------------------------------ reading
    def holds(self, atom: tuple[str, ...]) -> bool:
        """Truth of one atom at the posed state (the scene predicates, plus ``At``)."""
        return atom_holds(self.env, atom)

    def holding(self, atoms: Iterable[tuple[str, ...]]) -> frozenset:
        """The atoms among ``atoms`` that hold at the posed state."""
        return frozenset(a for a in atoms if self.holds(a))
