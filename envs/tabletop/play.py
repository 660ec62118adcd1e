"""The play scene: several objects at once and no task, for collecting unsegmented play data (Play-LMP).

Objects, in observation order: a red cube (2 cm half-size), a blue cube (2.5 cm), a squat yellow cylinder
(radius 2.4 cm, 4.4 cm tall; rolling friction 1 cm, so that once knocked over it stops instead of rolling off the
table), a green target region and the drawer cabinet. The observation follows the tabletop conventions (robot
fields first, then per object ``cube_red_pos/quat/to_eef``, ``cube_blue_...``, ``cylinder_...``,
``region_pos``, ``cabinet_opening``, ``cabinet_handle_pos``). Play has no task: ``success`` is always False
and the dense reward is 0.

Layout at reset: the cabinet stands on one side of the table (left or right, random), and the free
objects and the region are placed at least 8 cm apart on the other side, outside the cabinet's footprint
and outside the strip its drawer sweeps when it opens (:func:`cabinet_keepout`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import TabletopConfig, TabletopEnv
from .scene import ObjectSpec
from .tasks import Task, _place_free, _place_static, _sample_apart

# Drawer cabinet geometry (scene._drawer_xml): the body frame is the cabinet's front-bottom-centre.
CABINET_DEPTH = 0.24  # along +x from the front
CABINET_HALF_WIDTH = 0.12
DRAWER_MAX_OPENING = 0.16
HANDLE_OFFSET = 0.045  # handle site is this far in front (-x) of the drawer front
PLAY_EPISODE_STEPS = 1000  # default episode length of TabletopPlay-v0 (50 s at 20 Hz)

FREE_OBJECTS = ("cube_red", "cube_blue", "cylinder")
OBJECT_HALF_HEIGHT = {"cube_red": 0.02, "cube_blue": 0.025, "cylinder": 0.022}
CYLINDER_RADIUS = 0.024
CYLINDER_ROLLING_FRICTION = 0.01  # m; a cylinder on its side stops within ~1 cm (0: rolls on for ~1.3 m)


def cabinet_keepout(cabinet_xy: np.ndarray, margin: float = 0.03) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) xy corners of the box covering the cabinet plus its fully open drawer and handle."""
    low = np.array([cabinet_xy[0] - DRAWER_MAX_OPENING - HANDLE_OFFSET - margin, cabinet_xy[1] - CABINET_HALF_WIDTH - margin])
    high = np.array([cabinet_xy[0] + CABINET_DEPTH + margin, cabinet_xy[1] + CABINET_HALF_WIDTH + margin])
    return low, high


class Play(Task):
    """Play scene: red cube, blue cube, yellow cylinder, a target region and a drawer cabinet; no goal."""

    name = "play"
    objects = (
        ObjectSpec("cube_red", "cube", (0.02,), "red", 0.05),
        ObjectSpec("cube_blue", "cube", (0.025,), "blue", 0.08),
        ObjectSpec("cylinder", "cylinder", (CYLINDER_RADIUS, OBJECT_HALF_HEIGHT["cylinder"]), "yellow", 0.06,
                   CYLINDER_ROLLING_FRICTION),  # squat and rolling friction: tips less, stops where it falls
        ObjectSpec("region", "region", (0.05, 0.05), "region"),
        ObjectSpec("cabinet", "drawer", colour="wood"),
    )

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Initial placement from the seed alone: cabinet on a random side, the rest on the other side."""
        side = 1.0 if rng.random() < 0.5 else -1.0
        cabinet = np.array([rng.uniform(0.03, 0.07), side * rng.uniform(0.15, 0.18)])
        # Free side: y from the far edge of the workspace to just past the drawer's keep-out strip.
        low_k, high_k = cabinet_keepout(cabinet)
        y_edge = low_k[1] if side > 0 else high_k[1]
        ylo, yhi = (-0.24, y_edge - 0.04) if side > 0 else (y_edge + 0.04, 0.24)
        low, high = np.array([-0.14, ylo]), np.array([0.14, yhi])
        placed: list[np.ndarray] = []
        out: dict[str, Any] = {"cabinet_xy": cabinet, "side": side}
        for name in ("region", *FREE_OBJECTS):
            p = _sample_apart(rng, low, high, placed, 0.09)
            placed.append(p)
            out[f"{name}_xy"] = p
        out["yaws"] = rng.uniform(-np.pi / 4, np.pi / 4, size=len(FREE_OBJECTS))
        out["opening"] = rng.uniform(0.0, 0.06)
        return out

    def randomize(self, env, rng):
        p = self.sample(rng)
        _place_static(env, "cabinet", p["cabinet_xy"])
        _place_static(env, "region", p["region_xy"])
        for name, yaw in zip(FREE_OBJECTS, p["yaws"], strict=True):
            _place_free(env, name, p[f"{name}_xy"], OBJECT_HALF_HEIGHT[name], float(yaw) if name != "cylinder" else 0.0)
        m = env.model
        env.data.qpos[m.jnt_qposadr[m.joint("cabinet_slide").id]] = p["opening"]

    def success(self, env):
        return False

    def dense_reward(self, env):
        return 0.0

    def extra_info(self, env):
        return {"drawer_opening": env.joint_pos("cabinet_slide")}


class TabletopPlayEnv(TabletopEnv):
    """Play scene (no task, reward 0, never successful); episodes default to 1000 steps (50 s at 20 Hz)."""

    def __init__(self, render_mode: str | None = None, config: TabletopConfig | None = None, **options: Any) -> None:
        if config is None and "max_episode_steps" not in options:
            options["max_episode_steps"] = PLAY_EPISODE_STEPS
        super().__init__(Play(), config=config, render_mode=render_mode, **options)
