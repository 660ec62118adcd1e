"""Worlds: Gymnasium envs registered under ``skill_rl/...``.

Importing this package registers the ids with Gymnasium; the simulators themselves (MuJoCo, robosuite,
pybullet) are imported only when an env is made, so listing ids is cheap and optional extras stay optional.
This package imports no learning code and no ROS (see ARCHITECTURE.md).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

NAMESPACE = "skill_rl"

# id (without namespace) -> (entry point, default kwargs, one-line description)
ENV_SPECS: dict[str, tuple[str, dict[str, Any], str]] = {
    "TabletopReach-v0": ("skill_rl.envs.tabletop:TabletopReachEnv", {}, "MuJoCo: move the gripper to a point"),
    "TabletopPush-v0": ("skill_rl.envs.tabletop:TabletopPushEnv", {}, "MuJoCo: push a cube into a region"),
    "TabletopLift-v0": ("skill_rl.envs.tabletop:TabletopLiftEnv", {}, "MuJoCo: lift a cube 8 cm"),
    "TabletopPickPlace-v0": ("skill_rl.envs.tabletop:TabletopPickPlaceEnv", {}, "MuJoCo: place a cube in a region"),
    "TabletopStack-v0": ("skill_rl.envs.tabletop:TabletopStackEnv", {}, "MuJoCo: stack red cube on blue cube"),
    "TabletopDrawer-v0": ("skill_rl.envs.tabletop:TabletopDrawerEnv", {}, "MuJoCo: open a drawer"),
    "TabletopPlay-v0": (
        "skill_rl.envs.tabletop.play:TabletopPlayEnv", {}, "MuJoCo: play scene (3 objects, region, drawer; no task)"),
    "Robosuite-Lift-v0": ("skill_rl.envs.robosuite_envs:RobosuiteEnv", {"task": "Lift"}, "robosuite 1.4 Lift (extra: sim)"),
    "Robosuite-Stack-v0": ("skill_rl.envs.robosuite_envs:RobosuiteEnv", {"task": "Stack"}, "robosuite 1.4 Stack (extra: sim)"),
    "Robosuite-PickPlaceCan-v0": (
        "skill_rl.envs.robosuite_envs:RobosuiteEnv", {"task": "PickPlaceCan"}, "robosuite 1.4 PickPlaceCan (extra: sim)"),
    "Robosuite-Door-v0": ("skill_rl.envs.robosuite_envs:RobosuiteEnv", {"task": "Door"}, "robosuite 1.4 Door (extra: sim)"),
    "PybulletPush-v0": ("skill_rl.envs.pybullet_twin:PybulletPushEnv", {}, "pybullet twin of TabletopPush (extra: sim)"),
    "PybulletPickPlace-v0": (
        "skill_rl.envs.pybullet_twin:PybulletPickPlaceEnv", {}, "pybullet twin of TabletopPickPlace (extra: sim)"),
}


def register_envs() -> None:
    """Register every id with Gymnasium (idempotent). Truncation is done by the envs themselves."""
    for short_id, (entry_point, kwargs, _) in ENV_SPECS.items():
        full = f"{NAMESPACE}/{short_id}"
        if full not in gym.registry:
            gym.register(id=full, entry_point=entry_point, kwargs=dict(kwargs), disable_env_checker=True)


def list_env_ids() -> list[str]:
    """All registered skill_rl env ids, sorted."""
    return sorted(f"{NAMESPACE}/{k}" for k in ENV_SPECS)


def describe(env_id: str) -> str:
    return ENV_SPECS[env_id.split("/", 1)[-1]][2]


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """``gymnasium.make`` with an error that lists the available ids when the id is unknown.

    Accepts ids with or without the ``skill_rl/`` namespace. ``max_episode_steps`` goes to the env itself (every
    env here truncates on its own): given to ``gymnasium.make`` it would only add a ``TimeLimit`` wrapper, which
    can shorten an episode but never lengthen it past the env's default.
    """
    import dataclasses

    full = env_id if env_id.startswith(f"{NAMESPACE}/") else f"{NAMESPACE}/{env_id}"
    if full.split("/", 1)[1] not in ENV_SPECS:
        raise KeyError(f"unknown env id {env_id!r}; available: {', '.join(list_env_ids())}")
    if kwargs.get("max_episode_steps") is not None:
        spec = gym.spec(full)
        spec = dataclasses.replace(spec, kwargs={**spec.kwargs, "max_episode_steps": kwargs.pop("max_episode_steps")})
        return gym.make(spec, **kwargs)
    return gym.make(full, **kwargs)



def make_task_env(spec: Any, **kwargs: Any) -> gym.Env:
    """A task-scene env from a ``TaskSpec`` (``skill_rl.planning.tasklang.load_task`` reads task files).

    Options as for :func:`make` (``render_mode`` and the ``TabletopConfig`` fields). Not registered with
    Gymnasium: a task scene is data, not an id.
    """
    from .tabletop.taskscene import TaskSceneEnv

    return TaskSceneEnv(spec, **kwargs)


register_envs()
