"""Observation/action specs of a skill and the check that refuses a skill in an env it does not fit.

A learned policy only makes sense on the exact observation vector it was trained on, so learned kinds
(slim, play_lmp, bc) need the env's observation layout to match field by field. Scripted primitives read
named fields through ``env.obs_layout``, so they only need the fields they use. Numpy only (no torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skill_rl.errors import UserError

__all__ = ["ActionSpec", "ObsSpec", "SpecMismatchError", "spec_of_env"]


class SpecMismatchError(UserError):
    """A skill was loaded into an env whose observation or action space it was not made for."""


@dataclass(frozen=True)
class ObsSpec:
    """The observation a skill reads: ``layout`` is the ordered ``(field, size)`` list of the flat state vector.

    ``dim=None`` means "any vector that has these fields" (scripted primitives); otherwise the env's vector
    must be exactly ``dim`` long with exactly this layout (learned policies).
    """

    dim: int | None
    layout: tuple[tuple[str, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "layout": [[name, size] for name, size in self.layout]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ObsSpec:
        dim = d.get("dim")
        layout = tuple((str(name), int(size)) for name, size in d.get("layout", ()))
        return cls(None if dim is None else int(dim), layout)


@dataclass(frozen=True)
class ActionSpec:
    """A Box action space: ``dim`` values in [low, high] (per dimension)."""

    dim: int
    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.low) != self.dim or len(self.high) != self.dim:
            raise ValueError(f"action spec: low/high need {self.dim} values, got {len(self.low)}/{len(self.high)}")

    def to_dict(self) -> dict[str, Any]:
        return {"dim": self.dim, "low": list(self.low), "high": list(self.high)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActionSpec:
        return cls(int(d["dim"]), tuple(float(x) for x in d["low"]), tuple(float(x) for x in d["high"]))

    @classmethod
    def box(cls, dim: int, low: float = -1.0, high: float = 1.0) -> ActionSpec:
        return cls(dim, (float(low),) * dim, (float(high),) * dim)


def spec_of_env(env: Any) -> tuple[ObsSpec, ActionSpec]:
    """The exact specs of a skill_rl env (wrapped or not): its ``obs_layout`` and its Box action space."""
    base = getattr(env, "unwrapped", env)
    layout = getattr(base, "obs_layout", None)
    if layout is None:
        raise SpecMismatchError(f"{type(base).__name__} has no obs_layout: skills run only in skill_rl envs")
    fields = tuple((name, int(s.stop - s.start)) for name, s in layout.items())
    dim = int(getattr(base, "obs_dim", sum(size for _, size in fields)))
    space = env.action_space
    low, high = np.broadcast_to(space.low, space.shape), np.broadcast_to(space.high, space.shape)
    return ObsSpec(dim, fields), ActionSpec(int(np.prod(space.shape)), tuple(map(float, low.ravel())),
                                            tuple(map(float, high.ravel())))


def check_spec(skill: str, obs_spec: ObsSpec, action_spec: ActionSpec, env: Any) -> None:
    """Raise :class:`SpecMismatchError` (saying what differs) unless ``env`` fits the specs."""
    env_obs, env_act = spec_of_env(env)
    where = f"env {getattr(getattr(env, 'spec', None), 'id', None) or type(env.unwrapped).__name__}"
    if env_act.dim != action_spec.dim:
        raise SpecMismatchError(f"skill {skill} acts in a {action_spec.dim}-d action space but {where} has a "
                                f"{env_act.dim}-d one (another controller?); refusing to load it")
    if not (np.allclose(env_act.low, action_spec.low) and np.allclose(env_act.high, action_spec.high)):
        raise SpecMismatchError(f"skill {skill} expects action bounds [{min(action_spec.low)}, "
                                f"{max(action_spec.high)}] but {where} has [{min(env_act.low)}, {max(env_act.high)}]")
    env_fields = dict(env_obs.layout)
    if obs_spec.dim is None:  # needs only these fields, anywhere in the vector
        missing = [f"{n}({s})" for n, s in obs_spec.layout if env_fields.get(n) != s]
        if missing:
            raise SpecMismatchError(f"skill {skill} reads observation fields {', '.join(missing)} that {where} does "
                                    f"not have (it has: {', '.join(env_fields)})")
        return
    if env_obs.dim != obs_spec.dim:
        raise SpecMismatchError(f"skill {skill} was trained on {obs_spec.dim}-d observations but {where} gives "
                                f"{env_obs.dim}-d ones; refusing to load it")
    for i, (ours, theirs) in enumerate(zip(obs_spec.layout, env_obs.layout, strict=False)):
        if ours != theirs:
            raise SpecMismatchError(f"skill {skill}: observation field #{i} is {ours[0]}({ours[1]}) in the skill but "
                                    f"{theirs[0]}({theirs[1]}) in {where}; the layouts differ, refusing to load it")
    if obs_spec.layout and len(obs_spec.layout) != len(env_obs.layout):
        raise SpecMismatchError(f"skill {skill}: the observation layouts have {len(obs_spec.layout)} and "
                                f"{len(env_obs.layout)} fields")
