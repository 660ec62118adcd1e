"""Tabletop tasks: objects, randomisation, success predicate and dense reward.

Dense rewards are shaped in [0, 1] by stages (reach, grasp, move) as in robosuite, plus 1 on success, so
that the dense return of a solved episode is always above that of an unsolved one. The sparse reward is
1 on success, else 0. Distances are metres in the world frame; the table top is z = 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .scene import ObjectSpec

WORKSPACE_LOW = np.array([-0.15, -0.22, 0.0])
WORKSPACE_HIGH = np.array([0.15, 0.22, 0.35])


def _place_free(env, name: str, xy: np.ndarray, z: float, yaw: float) -> None:
    m = env.model
    adr = m.jnt_qposadr[m.joint(f"{name}_joint").id]
    env.data.qpos[adr : adr + 3] = [xy[0], xy[1], z]
    env.data.qpos[adr + 3 : adr + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]


def _place_static(env, name: str, xy: np.ndarray) -> None:
    env.model.body_pos[env.model.body(name).id][:2] = xy


def _sample_apart(rng: np.random.Generator, low, high, others: list[np.ndarray], min_dist: float) -> np.ndarray:
    """Uniform xy sample at least ``min_dist`` from every point in ``others`` (rejection sampling)."""
    for _ in range(1000):
        p = rng.uniform(low, high)
        if all(np.linalg.norm(p - o) >= min_dist for o in others):
            return p
    raise RuntimeError("could not place objects apart; the sampling area is too small")


def _reach(env, target: np.ndarray, scale: float = 10.0) -> float:
    return float(1.0 - np.tanh(scale * np.linalg.norm(env.eef_pos() - target)))


class Task:
    """Base class: a task is data (objects) plus three predicates over the env's state."""

    name = "task"
    objects: tuple[ObjectSpec, ...] = ()
    has_goal_point = False

    def randomize(self, env, rng: np.random.Generator) -> None:
        raise NotImplementedError

    def success(self, env) -> bool:
        raise NotImplementedError

    def dense_reward(self, env) -> float:
        raise NotImplementedError

    def extra_info(self, env) -> dict[str, Any]:
        return {}


class Reach(Task):
    """Move the grip site within 2 cm of a random point in the workspace."""

    name = "reach"
    objects = (ObjectSpec("goal", "marker", (0.015,), "region"),)
    has_goal_point = True
    tolerance = 0.02

    def __init__(self) -> None:
        self.goal_point = np.zeros(3)

    def randomize(self, env, rng):
        self.goal_point = rng.uniform([-0.15, -0.2, 0.05], [0.15, 0.2, 0.3])
        env.model.body_pos[env.model.body("goal").id] = self.goal_point

    def success(self, env):
        return bool(np.linalg.norm(env.eef_pos() - self.goal_point) < self.tolerance)

    def dense_reward(self, env):
        return _reach(env, self.goal_point, 5.0) + float(self.success(env))


class _CubeToRegion(Task):
    """A red cube and a target region, placed by ``sample`` from the seed alone (shared with the pybullet twin)."""

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        raise NotImplementedError

    def randomize(self, env, rng):
        p = self.sample(rng)
        _place_free(env, "cube", p["cube_xy"], 0.02, p["cube_yaw"])
        _place_static(env, "region", p["region_xy"])


class Push(_CubeToRegion):
    """Push the red cube into the green target region (no lifting: the cube must stay on the table)."""

    name = "push"
    objects = (ObjectSpec("cube", "cube", (0.02,), "red", 0.05), ObjectSpec("region", "region", (0.04, 0.04), "region"))

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Initial placement from the seed alone, so every simulator (MuJoCo, pybullet twin) starts alike."""
        cube = rng.uniform([-0.12, -0.12], [0.05, 0.12])
        for _ in range(1000):
            angle = rng.uniform(-np.pi, np.pi)
            dist = rng.uniform(0.12, 0.2)
            region = cube + dist * np.array([np.cos(angle), np.sin(angle)])
            if np.all(region >= [-0.15, -0.2]) and np.all(region <= [0.15, 0.2]):
                break
        return {"cube_xy": cube, "cube_yaw": rng.uniform(-np.pi / 4, np.pi / 4), "region_xy": region}

    @staticmethod
    def solved(cube_pos: np.ndarray, region_pos: np.ndarray) -> bool:
        """Cube centre inside the 8 cm square region and still on the table."""
        return bool(np.all(np.abs(cube_pos[:2] - region_pos[:2]) < 0.04) and cube_pos[2] < 0.03)

    def success(self, env):
        return self.solved(env.body_pos("cube"), env.body_pos("region"))

    def dense_reward(self, env):
        cube = env.body_pos("cube")
        region = env.body_pos("region")
        # Approach from behind the cube (the side away from the region), then drive it home.
        direction = (region[:2] - cube[:2]) / (np.linalg.norm(region[:2] - cube[:2]) + 1e-6)
        behind = np.array([*(cube[:2] - 0.05 * direction), 0.02])
        reach = _reach(env, behind)
        push = 1.0 - np.tanh(5.0 * np.linalg.norm(cube[:2] - region[:2]))
        return 0.3 * reach + 0.7 * push + float(self.success(env))


class Lift(Task):
    """Grasp the red cube and lift it at least 8 cm off the table."""

    name = "lift"
    objects = (ObjectSpec("cube", "cube", (0.02,), "red", 0.05),)
    lift_height = 0.1  # cube centre height (m) for success

    def randomize(self, env, rng):
        _place_free(env, "cube", rng.uniform([-0.1, -0.15], [0.1, 0.15]), 0.02, rng.uniform(-np.pi / 4, np.pi / 4))

    def success(self, env):
        return bool(env.body_pos("cube")[2] > self.lift_height)

    def dense_reward(self, env):
        cube = env.body_pos("cube")
        grasped = env.is_grasped("cube")
        lift = np.clip((cube[2] - 0.02) / (self.lift_height - 0.02), 0, 1) if grasped else 0.0
        return 0.25 * _reach(env, cube) + 0.25 * grasped + 0.5 * lift + float(self.success(env))

    def extra_info(self, env):
        return {"grasped": env.is_grasped("cube")}


class PickPlace(_CubeToRegion):
    """Pick the red cube and place it (released, resting) inside the target region."""

    name = "pick_place"
    objects = (
        ObjectSpec("cube", "cube", (0.02,), "red", 0.05),
        ObjectSpec("region", "region", (0.05, 0.05), "region"),
    )

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Initial placement from the seed alone, so every simulator (MuJoCo, pybullet twin) starts alike."""
        cube = rng.uniform([-0.12, -0.18], [0.12, 0.18])
        region = _sample_apart(rng, [-0.12, -0.18], [0.12, 0.18], [cube], 0.15)
        return {"cube_xy": cube, "cube_yaw": rng.uniform(-np.pi / 4, np.pi / 4), "region_xy": region}

    @staticmethod
    def solved(cube_pos: np.ndarray, region_pos: np.ndarray, grasped: bool) -> bool:
        """Cube centre inside the 10 cm square region, resting on the table, and let go."""
        inside = np.all(np.abs(cube_pos[:2] - region_pos[:2]) < 0.05)
        return bool(inside and cube_pos[2] < 0.03 and not grasped)

    def success(self, env):
        return self.solved(env.body_pos("cube"), env.body_pos("region"), env.is_grasped("cube"))

    def dense_reward(self, env):
        cube = env.body_pos("cube")
        region = env.body_pos("region")
        grasped = env.is_grasped("cube")
        carry = (1.0 - np.tanh(5.0 * np.linalg.norm(cube[:2] - region[:2]))) if grasped or cube[2] < 0.03 else 0.0
        return 0.2 * _reach(env, cube) + 0.2 * grasped + 0.6 * carry + float(self.success(env))

    def extra_info(self, env):
        return {"grasped": env.is_grasped("cube")}


class Stack(Task):
    """Stack the small red cube on the larger blue cube and let go (a yellow cylinder stands in the way)."""

    name = "stack"
    objects = (
        ObjectSpec("cube_red", "cube", (0.02,), "red", 0.05),
        ObjectSpec("cube_blue", "cube", (0.025,), "blue", 0.08),
        ObjectSpec("cylinder", "cylinder", (0.02, 0.03), "yellow", 0.06),  # a distractor
    )

    def randomize(self, env, rng):
        red = rng.uniform([-0.12, -0.16], [0.12, 0.16])
        blue = _sample_apart(rng, [-0.12, -0.16], [0.12, 0.16], [red], 0.12)
        cylinder = _sample_apart(rng, [-0.14, -0.2], [0.14, 0.2], [red, blue], 0.1)
        _place_free(env, "cube_red", red, 0.02, rng.uniform(-np.pi / 4, np.pi / 4))
        _place_free(env, "cube_blue", blue, 0.025, rng.uniform(-np.pi / 4, np.pi / 4))
        _place_free(env, "cylinder", cylinder, 0.03, 0.0)

    def success(self, env):
        red, blue = env.body_pos("cube_red"), env.body_pos("cube_blue")
        aligned = np.linalg.norm(red[:2] - blue[:2]) < 0.02
        on_top = abs((red[2] - blue[2]) - 0.045) < 0.01
        return bool(aligned and on_top and not env.is_grasped("cube_red") and env.in_contact("cube_blue", "cube_red"))

    def dense_reward(self, env):
        red, blue = env.body_pos("cube_red"), env.body_pos("cube_blue")
        grasped = env.is_grasped("cube_red")
        above = blue + np.array([0.0, 0.0, 0.045])
        align = (1.0 - np.tanh(8.0 * np.linalg.norm(red - above))) if grasped or env.in_contact("cube_blue", "cube_red") else 0.0
        return 0.2 * _reach(env, red) + 0.2 * grasped + 0.6 * align + float(self.success(env))

    def extra_info(self, env):
        return {"grasped": env.is_grasped("cube_red")}


class Drawer(Task):
    """Open the drawer by at least 12 cm (it slides out towards the robot, 16 cm at most)."""

    name = "drawer"
    objects = (ObjectSpec("cabinet", "drawer", colour="wood"),)
    open_threshold = 0.12

    def randomize(self, env, rng):
        _place_static(env, "cabinet", rng.uniform([0.02, -0.12], [0.08, 0.12]))
        m = env.model
        env.data.qpos[m.jnt_qposadr[m.joint("cabinet_slide").id]] = rng.uniform(0.0, 0.02)

    def opening(self, env) -> float:
        return env.joint_pos("cabinet_slide")

    def success(self, env):
        return self.opening(env) > self.open_threshold

    def dense_reward(self, env):
        handle = env.data.site_xpos[env.model.site("cabinet_handle_site").id]
        return 0.3 * _reach(env, handle) + 0.7 * min(self.opening(env) / self.open_threshold, 1.0) + float(self.success(env))

    def extra_info(self, env):
        return {"drawer_opening": self.opening(env)}


TASKS: dict[str, type[Task]] = {
    "TabletopReach": Reach,
    "TabletopPush": Push,
    "TabletopLift": Lift,
    "TabletopPickPlace": PickPlace,
    "TabletopStack": Stack,
    "TabletopDrawer": Drawer,
}
