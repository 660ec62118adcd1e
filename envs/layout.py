"""The observation layout every skill_rl env shares: named fields of one flat vector.

One place for the rules, so the MuJoCo tabletop, its pybullet twin and the robosuite wrappers cannot drift
apart (see ``tabletop/base.py`` for units and frames).
"""

from __future__ import annotations

from collections.abc import Iterable

REWARD_TYPES = ("dense", "sparse")
OBS_MODES = ("state", "state+image")
# Robot fields, first in every observation: joint rad, rad/s; eef m and wxyz quaternion (world); finger openings m.
ROBOT_FIELDS = (("joint_pos", 7), ("joint_vel", 7), ("eef_pos", 3), ("eef_quat", 4), ("gripper_qpos", 2))


def free_object_fields(name: str) -> list[tuple[str, int]]:
    """Fields of a free object: position (3), wxyz quaternion (4), eef_pos - position (3)."""
    return [(f"{name}_pos", 3), (f"{name}_quat", 4), (f"{name}_to_eef", 3)]


def tabletop_object_fields(objects: Iterable, has_goal_point: bool = False) -> list[tuple[str, int]]:
    """Fields for tabletop ``ObjectSpec``s, in order (markers have none: their point is ``goal_pos``)."""
    fields: list[tuple[str, int]] = []
    for obj in objects:
        if obj.kind in ("cube", "cylinder"):
            fields += free_object_fields(obj.name)
        elif obj.kind == "region":
            fields.append((f"{obj.name}_pos", 3))
        elif obj.kind == "drawer":
            fields += [(f"{obj.name}_opening", 1), (f"{obj.name}_handle_pos", 3)]
    if has_goal_point:
        fields.append(("goal_pos", 3))
    return fields


def build_layout(fields: Iterable[tuple[str, int]]) -> tuple[dict[str, slice], int]:
    """Contiguous slices for ``(name, size)`` fields, and the vector's total length."""
    layout: dict[str, slice] = {}
    start = 0
    for name, size in fields:
        layout[name] = slice(start, start + size)
        start += size
    return layout, start
