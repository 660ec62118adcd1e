"""The scripted primitives as library skills, so the planner has a default library without any training.

Each skill stores only which ``make_primitive`` name it is and which arguments it takes; the arguments are
bound when it is loaded (``entry.load(env, obj="cube_red", target="cube_blue")``). They read the robot
fields plus the named objects' fields, and act with the ``ee_delta`` controller (7-d, [-1, 1]).
"""

from __future__ import annotations

from typing import Any

from skill_rl.envs.layout import ROBOT_FIELDS

from .spec import ActionSpec, ObsSpec
from .store import SkillEntry, SkillLibrary, SkillRecord

__all__ = ["SCRIPTED_PRIMITIVES", "add_scripted_primitives", "scripted_record"]

#: make_primitive name -> (argument names, description). Mirrors the agreed primitives API.
SCRIPTED_PRIMITIVES: dict[str, tuple[tuple[str, ...], str]] = {
    "pick_place": (("obj", "target"), "pick obj and place it on an object or into a region"),
    "push": (("obj", "target_xy"), "push obj along the table to target_xy (m, world)"),
    "open_drawer": (("drawer",), "grasp the drawer's handle and pull it open"),
    "close_drawer": (("drawer",), "push the drawer closed"),
    "reach": (("xyz",), "move the grip site to xyz (m, world)"),
    "lift": (("obj",), "grasp obj and lift it"),
}
SCRIPTED_ENV_ID = "skill_rl/tabletop:*"
_ROBOT = tuple((name, size) for name, size in ROBOT_FIELDS if name in ("eef_pos", "eef_quat", "gripper_qpos"))


def _registered_args() -> dict[str, tuple[str, ...]]:
    """Argument names from the primitives registry itself when it is importable (the source of truth)."""
    try:
        from skill_rl.envs.tabletop.primitives import PRIMITIVES
    except ImportError:
        return {}
    return {name: tuple(args) for name, (_, args) in PRIMITIVES.items()}


def scripted_record(primitive: str, name: str | None = None, bound: dict[str, Any] | None = None) -> SkillRecord:
    """The record of one scripted primitive (``bound`` fixes some arguments, e.g. a drawer name)."""
    args, description = SCRIPTED_PRIMITIVES.get(primitive, ((), f"scripted primitive {primitive}"))
    args = _registered_args().get(primitive, args)
    return SkillRecord(
        name=name or primitive, kind="scripted", env_id=SCRIPTED_ENV_ID,
        obs_spec=ObsSpec(None, _ROBOT), action_spec=ActionSpec.box(7),
        params={"primitive": primitive, "args": list(args), "bound": dict(bound or {})},
        description=description,
    )


def add_scripted_primitives(library: SkillLibrary, names: list[str] | None = None,
                            skip_existing: bool = True) -> list[SkillEntry]:
    """Register the scripted primitives (default: all of them) into ``library``; returns the new entries.

    With ``skip_existing`` a name already in the library is left as it is (so this is idempotent).
    """
    added = []
    present: set[str] = set(library.names()) if skip_existing else set()
    for primitive in names or sorted(set(SCRIPTED_PRIMITIVES) | set(_registered_args())):
        if primitive not in SCRIPTED_PRIMITIVES and primitive not in _registered_args():
            from .store import LibraryError

            raise LibraryError(f"unknown scripted primitive {primitive!r}; known: {', '.join(SCRIPTED_PRIMITIVES)}")
        if primitive in present:
            continue
        added.append(library.add(scripted_record(primitive)))
    return added
