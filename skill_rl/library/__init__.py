"""Skill library: a persistent, versioned store of primitives (scripted, SLIM, Play-LMP, BC) on local disk.

::

    from skill_rl.library import SkillLibrary
    lib = SkillLibrary()                        # $SKILL_RL_LIBRARY or ~/.skill_rl/skills
    entry = lib.get("pick_place")               # latest version; unknown names list the known ones
    prim = entry.load(env, obj="cube_red", target="cube_blue")
    prim.reset(); action = prim.act(obs)        # until prim.done(obs) or prim.horizon steps

Importing this package is cheap (no torch): TorchScript is loaded only when a learned skill is.
It imports none of its writers or readers (learners, planning, ros, hardware, cli).
"""

from __future__ import annotations

from .scripted import SCRIPTED_PRIMITIVES, add_scripted_primitives, scripted_record
from .spec import ActionSpec, ObsSpec, SpecMismatchError, spec_of_env
from .store import (
    KINDS,
    CorruptLibraryError,
    LibraryError,
    SkillEntry,
    SkillLibrary,
    SkillRecord,
    UnknownSkillError,
    default_library_root,
)

__all__ = [
    "KINDS", "SCRIPTED_PRIMITIVES", "ActionSpec", "CorruptLibraryError", "LibraryError", "ObsSpec", "SkillEntry",
    "SkillLibrary", "SkillRecord", "SpecMismatchError", "UnknownSkillError", "add_scripted_primitives",
    "default_library_root", "scripted_record", "spec_of_env",
]
