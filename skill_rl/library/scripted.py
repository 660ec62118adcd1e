"""The catalog's primitives as library skills, so the planner has a default library without any training,
and the helpers that store learned skills (optionally as implementations of a catalog primitive).

A scripted skill stores only which catalog primitive it is and which arguments it takes (from the catalog);
the arguments are bound when it is loaded (``entry.load(env, obj="cube_red", target="cube_blue")``). They
read the robot fields plus the named objects' fields, and act with the ``ee_delta`` controller (7-d, [-1, 1]).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from skill_rl.envs.layout import ROBOT_FIELDS

from .catalog import CATALOG, primitive
from .spec import ActionSpec, ObsSpec, spec_of_env
from .store import KINDS, LibraryError, SkillEntry, SkillLibrary, SkillRecord

__all__ = ["add_bc_policy", "add_learned_skill", "add_scripted_primitives", "scripted_record"]

SCRIPTED_ENV_ID = "skill_rl/tabletop:*"
_ROBOT = tuple((name, size) for name, size in ROBOT_FIELDS if name in ("eef_pos", "eef_quat", "gripper_qpos"))


def scripted_record(name_of_primitive: str, name: str | None = None, bound: dict[str, Any] | None = None) -> SkillRecord:
    """The record of one catalog primitive (``bound`` fixes some arguments, e.g. a drawer name)."""
    spec = primitive(name_of_primitive)
    return SkillRecord(
        name=name or spec.name, kind="scripted", env_id=SCRIPTED_ENV_ID,
        obs_spec=ObsSpec(None, _ROBOT), action_spec=ActionSpec.box(7),
        params={"primitive": spec.name, "args": list(spec.arg_names), "bound": dict(bound or {})},
        description=spec.doc,
    )


def add_scripted_primitives(library: SkillLibrary, names: list[str] | None = None,
                            skip_existing: bool = True) -> list[SkillEntry]:
    """Register catalog primitives (default: all of them) into ``library``; returns the new entries.

    With ``skip_existing`` a name already in the library is left as it is (so this is idempotent). An unknown
    name raises ``UnknownSkillError`` listing the catalog.
    """
    wanted = list(names or CATALOG)
    for n in wanted:
        primitive(n)  # unknown names fail before anything is written
    present: set[str] = set(library.names()) if skip_existing else set()
    return [library.add(scripted_record(n)) for n in wanted if n not in present]


def add_learned_skill(library: SkillLibrary, name: str, kind: str, env: Any, files: Mapping[str, str | os.PathLike[str]],
                      *, implements: str | None = None, bound: Mapping[str, Any] | None = None,
                      horizon: int = 50, params: Mapping[str, Any] | None = None,
                      metrics: Mapping[str, Any] | None = None, description: str = "") -> SkillEntry:
    """Store a learned skill (TorchScript ``files``, e.g. ``{"policy.pt": path}``) with ``env``'s exact specs.

    ``implements`` names the catalog primitive the skill performs, with every argument ``bound`` (a policy
    cannot read arguments): e.g. a BC policy trained on TabletopPickPlace is
    ``implements="pick_place", bound={"obj": "cube", "target": "region"}``. The planner then uses it as one
    more skill for that call (same preconditions, effects and success check), and its ``success`` is the
    declared effect check. Without ``implements`` its effects can only be learned (``SkillSet.learn_effects``).
    """
    if kind not in KINDS or kind == "scripted":
        raise LibraryError(f"kind must be one of {', '.join(k for k in KINDS if k != 'scripted')}, got {kind!r}")
    if bound and not implements:
        raise LibraryError("bound arguments need implements=<catalog primitive>")
    obs_spec, action_spec = spec_of_env(env)
    stored: dict[str, Any] = {"horizon": int(horizon), **dict(params or {})}
    if implements is not None:
        spec = primitive(implements)
        stored["implements"] = {"primitive": spec.name, "bound": dict(bound or {})}
    env_id = getattr(getattr(env, "spec", None), "id", None) or type(env.unwrapped).__name__
    record = SkillRecord(name=name, kind=kind, env_id=str(env_id), obs_spec=obs_spec, action_spec=action_spec,
                         params=stored, metrics=dict(metrics or {}),
                         description=description or (f"{kind} policy implementing {implements}" if implements else ""))
    return library.add(record, files)


def add_bc_policy(library: SkillLibrary, name: str, policy: str | os.PathLike[str], env: Any, *,
                  implements: str | None = None, bound: Mapping[str, Any] | None = None, horizon: int = 50,
                  history: int = 1, metrics: Mapping[str, Any] | None = None, description: str = "") -> SkillEntry:
    """Store a BC policy (TorchScript ``forward(obs[B, D]) -> action[B, A]``, or ``forward(obs[B, H, D])`` over
    the last ``history`` = H observations, which the loaded skill keeps) trained in ``env``; see
    :func:`add_learned_skill` for ``implements``/``bound``."""
    return add_learned_skill(library, name, "bc", env, {"policy.pt": policy}, implements=implements, bound=bound,
                             horizon=horizon, params={"history": int(history)} if history != 1 else None,
                             metrics=metrics, description=description)
