"""Skill library: a persistent, versioned store of primitives (scripted, SLIM, Play-LMP, BC) on local disk.

::

    from skill_rl.library import SkillLibrary
    lib = SkillLibrary()                        # $SKILL_RL_LIBRARY or ~/.skill_rl/skills
    entry = lib.get("pick_place")               # latest version; unknown names list the known ones
    skill = entry.load(env, obj="cube_red", target="cube_blue")   # a Skill, whatever made the entry
    skill.reset(); action = skill.act(obs)      # until skill.done(obs) or skill.horizon steps; skill.success(obs)

Every scripted primitive is declared once in :mod:`skill_rl.library.catalog` (parameters with units and
ranges, preconditions/effects, prior, mechanics); records, validation, the planner's operators and the
demonstrator derive from it. Importing this package is cheap (no torch, no MuJoCo): TorchScript is loaded
only when a learned skill is. It imports none of its writers or readers (learners, planning, ros, hardware, cli).
"""

from __future__ import annotations

from .catalog import CATALOG, BadParamsError, ParamSpec, PrimitiveSpec, declare, make_scripted, primitive
from .scripted import add_bc_policy, add_learned_skill, add_scripted_primitives, scripted_record
from .skill import ScriptedSkill, Skill
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
    "CATALOG", "KINDS", "ActionSpec", "BadParamsError", "CorruptLibraryError", "LibraryError", "ObsSpec", "ParamSpec",
    "PrimitiveSpec", "ScriptedSkill", "Skill", "SkillEntry", "SkillLibrary", "SkillRecord", "SpecMismatchError",
    "UnknownSkillError", "add_bc_policy", "add_learned_skill", "add_scripted_primitives", "declare",
    "default_library_root", "make_scripted", "primitive", "scripted_record", "spec_of_env",
]
