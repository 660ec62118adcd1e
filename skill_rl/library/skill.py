"""The one interface every library entry satisfies once loaded: :class:`Skill`.

``entry.load(env, **params)`` returns a :class:`Skill` whatever made the entry (a scripted primitive, a BC
policy, a SLIM ``(policy, z)``, a goal-conditioned Play-LMP policy), so the planner's executors, the ROS
skill server and the benchmarks run every kind the same way::

    skill = entry.load(env, obj="cube_red", target="cube_blue")
    skill.reset()
    for _ in range(skill.horizon):
        obs, *_ = env.step(skill.act(obs))
        if skill.done(obs):
            break
    skill.success(obs)      # True / False, or None when the skill cannot tell

``success`` of a scripted primitive, and of a learned entry that implements one, is the catalog's check of
the call (its declared effects hold, read from the env the skill was loaded into: the live env in
simulation, the kinematic copy posed from perception on an arm); other learned skills cannot tell (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .catalog import ParamSpec, PrimitiveSpec, scene_kinds

__all__ = ["ScriptedSkill", "Skill"]


@runtime_checkable
class Skill(Protocol):
    """A loaded library entry: closed-loop, one observation in, one action out.

    ``name``: the entry's (or primitive's) name; ``params``: the bound parameters, validated; ``param_specs``:
    the declared parameters (units, ranges); ``horizon``: the step budget the caller should allow.
    """

    name: str
    horizon: int
    params: dict[str, Any]
    param_specs: tuple[ParamSpec, ...]

    def reset(self) -> None:
        """Start from the beginning (call before the first ``act``)."""

    def act(self, obs: Any) -> np.ndarray:
        """The action (float32, the env's action space) for observation ``obs``."""

    def done(self, obs: Any) -> bool:
        """The skill has finished (not whether it worked: see ``success``)."""

    def success(self, obs: Any) -> bool | None:
        """Did it do its job, judged from the state ``obs`` was observed in; None: this skill cannot tell."""


class ScriptedSkill:
    """A scripted primitive bound to validated parameters in one env: the catalog's declaration + its mechanics.

    ``params`` are checked against the scene (:meth:`PrimitiveSpec.validate`, raising ``BadParamsError``)
    before the mechanics class is built, so a bad call never starts moving.
    """

    def __init__(self, spec: PrimitiveSpec, env: Any, params: Mapping[str, Any], name: str | None = None) -> None:
        self.spec = spec
        self.env = env
        self.name = name or spec.name
        self.params = spec.validate(params, scene_kinds(env))
        self.param_specs = spec.params
        self.motion = spec.mechanics_class()(env, **{k: v for k, v in self.params.items() if v is not None})
        self.horizon = int(self.motion.horizon)

    @property
    def phase(self) -> str:
        """The mechanics' current phase (fault injection and debugging read it)."""
        return str(getattr(self.motion, "phase", ""))

    def reset(self) -> None:
        self.motion.reset()

    def act(self, obs: Any) -> np.ndarray:
        return np.asarray(self.motion.act(obs), dtype=np.float32)

    def done(self, obs: Any) -> bool:
        return bool(self.motion.done(obs))

    def success(self, obs: Any) -> bool | None:
        return self.spec.succeeded(self.env, obs, self.params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items() if v is not None)
        return f"{self.name}({args})"
