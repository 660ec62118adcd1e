"""The skill server's control loop without ROS: perception in, an arm command out, one step at a time.

:class:`SkillRunner` is what ``skill_server`` runs for a goal, and what :func:`run_on_arm` runs against a
simulated ``TabletopSceneArm`` in lock-step (tests, debugging: no DDS, no wall clock). Per step it poses a
kinematic copy of the world from the perceived state (``KinematicScene``: the env's observation vector), asks
the library skill for its ``ee_delta`` action and turns that into a joint position target and a finger opening
with the world's own controller (``KinematicModel``: the env's persistent Cartesian target and IK, on a second
copy whose target is never reset by posing). No rclpy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ArmCommand", "SkillRunner", "run_on_arm"]


@dataclass(frozen=True)
class ArmCommand:
    """One control step's output: joint position target (rad, the arm's joint order) and the opening between
    the fingers (m)."""

    joints: np.ndarray
    width: float


class SkillRunner:
    """Runs library skills on an arm in ``world`` (a tabletop env id or a task file; see ``scene.make_world_env``)."""

    def __init__(self, world: str, description: Any = "panda"):
        from skill_rl.library.perception import KinematicScene

        from .kinematics import KinematicModel

        self.world = world
        self.kin = KinematicModel(world, description)
        self.scene = KinematicScene.like(self.kin.env)
        self.skill: Any = None
        self.steps = 0
        self.obs: np.ndarray | None = None
        self.q = np.zeros(7)

    def perceive(self, state: Any) -> np.ndarray:
        """Pose the scene copy at ``state`` (a ``PerceivedState``); the observation vector (raises
        ``PerceptionError`` for missing or bad values)."""
        self.obs = self.scene.set_state(state)
        self.q = np.asarray(state.joint_positions, dtype=np.float64)
        return self.obs

    def start(self, entry: Any, params: dict[str, Any], state: Any) -> Any:
        """Load ``entry`` with ``params`` into the scene copy posed at ``state``; returns the skill."""
        self.perceive(state)
        self.skill = entry.load(self.scene.env, **params)
        self.skill.reset()
        self.kin.reset_target(self.q)
        self.steps = 0
        return self.skill

    def step(self, state: Any) -> ArmCommand | None:
        """One control step from ``state``: the command, or None when the skill is done or out of steps."""
        obs = self.perceive(state)
        if self.skill.done(obs) or self.steps >= self.skill.horizon:
            return None
        action = np.asarray(self.skill.act(obs), dtype=np.float64)
        target, width = self.kin.ee_delta_target(self.q, action)
        self.steps += 1
        return ArmCommand(target, width)

    @property
    def phase(self) -> str:
        skill = getattr(self.skill, "inner", self.skill)  # a fault-injection wrapper reports its skill's phase
        return str(getattr(skill, "phase", "") or "")

    def verdict(self, state: Any) -> bool | None:
        """The skill's success check on ``state`` (None: it cannot tell)."""
        return self.skill.success(self.perceive(state))

    def close(self) -> None:
        self.kin.close()


def arm_state(arm: Any) -> Any:
    """A ``TabletopSceneArm``'s state as perception reports it (what ``arm_hal`` publishes, without ROS)."""
    from skill_rl.library.perception import PerceivedObject, PerceivedState

    reading = arm.last_state if arm.last_state is not None else arm.read()
    objects = tuple(PerceivedObject(o["name"], tuple(o["position"]), tuple(o["quat_wxyz"]), o["kind"],
                                    o["opening"] if o["kind"] == "drawer" else None) for o in arm.object_states())
    return PerceivedState(tuple(reading.position), arm.finger_positions(), objects, tuple(reading.velocity))


def run_on_arm(arm: Any, runner: SkillRunner, entry: Any, params: dict[str, Any], *, control_hz: float = 20.0,
               max_seconds: float = 60.0, force_n: float = 20.0) -> tuple[bool | None, int, list[str]]:
    """Run one skill on a configured, active ``TabletopSceneArm`` built on a ``ManualClock``, in lock-step: the
    HAL loop at the description's rate, the skill at ``control_hz``, every command through ``ArmHAL.write``
    (the SafetyFilter). Returns (the skill's verdict, steps, the phases it went through)."""
    from skill_rl.hardware.types import JointPositionCommand

    period = arm.description.period
    every = max(1, int(round(1.0 / (control_hz * period))))
    runner.start(entry, params, arm_state(arm))
    phases: list[str] = []
    cmd = None
    for i in range(int(max_seconds / period)):
        arm.clock.advance(period)
        arm.read()
        if i % every == 0:
            out = runner.step(arm_state(arm))
            if out is None:
                break
            if not phases or phases[-1] != runner.phase:
                phases.append(runner.phase)
            arm.gripper.command(out.width, force=force_n)
            cmd = JointPositionCommand(out.joints, arm.clock(), arm.joint_names)
        arm.write(cmd)
        cmd = None
        arm.step(period)
    arm.stop()
    for _ in range(int(1.0 / period)):  # come to rest before judging
        arm.clock.advance(period)
        arm.read()
        arm.write(None)
        arm.step(period)
    return runner.verdict(arm_state(arm)), runner.steps, phases
