"""Object-centric features of a skill's start state, named by role (see :mod:`skill_rl.planning.skill_models`).

Needs numpy only: the planner and the fitting code share these definitions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from skill_rl.errors import UserError
from skill_rl.library.primitives import OBJECT_ARGS

__all__ = ["ROBOT_INPUTS", "FeatureSpec", "feature_spec", "field_size"]

ROBOT_INPUTS = ("eef_pos", "gripper_qpos")
_TEMPLATE = re.compile(r"\{(\w+)\}_(\w+)")


@dataclass(frozen=True)
class FeatureSpec:
    """Which observation fields (``{role}`` templates allowed) and numeric arguments feed the models.

    Features, in order: the ``inputs`` fields of the start observation; for each ``pairs`` entry ``(a, b)``
    of positions (fields, or ``arg:<name>`` point arguments), ``b - a`` and its length (how far the skill has to go: distances
    are what decide success, and a small MLP learns them poorly from raw positions); then the ``numeric``
    arguments, flattened; then for each ``context`` position, where the nearest *other* free object is
    (its offset and distance: is something stacked on my target, or in the way?). ``outputs``: fields
    predicted after the skill; each is also an input (the dynamics model adds a change to it).
    """

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    numeric: tuple[tuple[str, int], ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()
    context: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": list(self.inputs), "outputs": list(self.outputs), "numeric": [list(n) for n in self.numeric],
                "pairs": [list(p) for p in self.pairs], "context": list(self.context)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        return cls(tuple(d["inputs"]), tuple(d["outputs"]), tuple((str(n), int(k)) for n, k in d.get("numeric", ())),
                   tuple((str(a), str(b)) for a, b in d.get("pairs", ())), tuple(d.get("context", ())))

    def resolve(self, names: Sequence[str], params: dict[str, Any]) -> list[str]:
        """Templates -> concrete field names for one binding (``{obj}_pos`` -> ``cube_red_pos``).

        A role bound to a point instead of an object (``push(target_xy=[x, y])`` where the models were fitted
        with a region name) resolves to ``arg:<role>``: the point itself stands in for the object's position.
        """
        out = []
        for n in names:
            m = _TEMPLATE.fullmatch(n)
            if m is None:
                out.append(n)
                continue
            role, suffix = m.groups()
            value = params.get(role)
            if isinstance(value, str):
                out.append(f"{value}_{suffix}")
            elif value is not None and suffix == "pos":
                out.append(f"arg:{role}")
            else:
                roles = sorted(k for k, v in params.items() if isinstance(v, str))
                raise UserError(f"skill models need the argument {role!r} (got arguments "
                                f"{', '.join(sorted(params)) or 'none'}; roles {', '.join(roles) or 'none'})")
        return out

    def gather(self, obs: np.ndarray, layout: dict[str, slice], params: dict[str, Any]) -> np.ndarray:
        """Feature rows ``[B, F]`` from observations ``[B, D]`` (or ``[D]``) under ``layout``."""
        return np.concatenate([c for _, c in self.columns(obs, layout, params)], axis=1).astype(np.float32)

    def slices(self, obs: np.ndarray, layout: dict[str, slice], params: dict[str, Any]) -> dict[str, slice]:
        """Where each named block sits in a feature row: inputs by template name, ``arg:<name>`` numeric
        arguments, ``pair:<a>-><b>`` and ``near:<field>`` derived blocks."""
        out, start = {}, 0
        for name, col in self.columns(obs, layout, params):
            out[name] = slice(start, start + col.shape[1])
            start += col.shape[1]
        return out

    def columns(self, obs: np.ndarray, layout: dict[str, slice], params: dict[str, Any]) -> list[tuple[str, np.ndarray]]:
        """The named feature blocks, in order (see the class docstring)."""
        obs = np.atleast_2d(np.asarray(obs, dtype=np.float32))

        numeric = dict(self.numeric)

        def column(name: str) -> np.ndarray:
            if name.startswith("arg:"):  # a point argument, or a point standing in for an object (3-d, z = 0)
                arg = name[4:]
                return argument(arg, numeric.get(arg, 3), pad=arg not in numeric)
            if name not in layout:
                raise UserError(f"skill models read observation field {name!r}, which this env does not have")
            return obs[:, layout[name]]

        def argument(name: str, size: int, pad: bool = False) -> np.ndarray:
            value = params.get(name)
            if isinstance(value, str):  # an object where the models were fitted with a point: its position
                if f"{value}_pos" not in layout:
                    raise UserError(f"skill models: {name}={value!r} is not an object of this scene")
                return obs[:, layout[f"{value}_pos"]][:, :size]
            try:
                arr = np.asarray(value, dtype=np.float32).reshape(-1)
            except (TypeError, ValueError):
                raise UserError(f"skill models need {name} as {size} numbers or an object name, got {value!r}") from None
            if pad and 0 < arr.size < size:
                arr = np.concatenate([arr, np.zeros(size - arr.size, dtype=np.float32)])
            if arr.size != size:
                raise UserError(f"skill models need the numeric argument {name!r} with {size} values, got {arr.size}")
            return np.broadcast_to(arr, (obs.shape[0], size))

        cols = [(t, column(name)) for t, name in zip(self.inputs, self.resolve(self.inputs, params), strict=True)]
        for a, b in self.pairs:
            ca, cb = (column(n) for n in self.resolve((a, b), params))
            k = min(ca.shape[1], cb.shape[1])  # a 2-d target against a 3-d position: compare x, y
            diff = cb[:, :k] - ca[:, :k]
            cols.append((f"pair:{a}->{b}", np.concatenate([diff, np.linalg.norm(diff, axis=1, keepdims=True)], axis=1)))
        cols += [(f"arg:{name}", argument(name, size)) for name, size in self.numeric]
        if self.context:
            free = [n[: -len("_quat")] + "_pos" for n in layout if n.endswith("_quat") and n != "eef_quat"]
            for t, name in zip(self.context, self.resolve(self.context, params), strict=True):
                here = column(name)
                others = [obs[:, layout[f]] for f in free if f != name]
                if not others:  # nothing else in the scene: "far away"
                    block = np.concatenate([np.zeros_like(here), np.ones((obs.shape[0], 1), dtype=np.float32)], axis=1)
                else:
                    offsets = np.stack(others, axis=1) - here[:, None, :]  # [B, n_others, 3]
                    dist = np.linalg.norm(offsets, axis=2)
                    nearest = dist.argmin(axis=1)
                    rows = np.arange(obs.shape[0])
                    block = np.concatenate([offsets[rows, nearest], dist[rows, nearest][:, None]], axis=1)
                cols.append((f"near:{t}", block))
        return cols


def field_size(layout: dict[str, slice], name: str) -> int:
    return int(layout[name].stop - layout[name].start)


def feature_spec(layout: dict[str, slice], params: dict[str, Any]) -> FeatureSpec:
    """The default features for a skill bound by ``params`` in a scene with ``layout`` (see module docstring)."""
    free = {n[: -len("_quat")] for n in layout if n.endswith("_quat") and n != "eef_quat"}
    drawers = {n[: -len("_opening")] for n in layout if n.endswith("_opening")}
    points = {n[: -len("_pos")] for n in layout if n.endswith("_pos") and n not in ("eef_pos", "joint_pos", "goal_pos")}
    roles = {k: v for k, v in params.items() if k in OBJECT_ARGS and isinstance(v, str)}
    inputs, outputs = list(ROBOT_INPUTS), ["eef_pos"]
    named = sorted(roles.items()) if roles else [(None, n) for n in sorted(points | drawers)]
    for role, obj in named:
        key = f"{{{role}}}" if role else obj
        if obj in drawers:
            inputs.append(f"{key}_opening")
            outputs.append(f"{key}_opening")
            if f"{obj}_handle_pos" in layout:
                inputs.append(f"{key}_handle_pos")
                outputs.append(f"{key}_handle_pos")
        if obj in points:
            inputs.append(f"{key}_pos")
            if obj in free:
                outputs.append(f"{key}_pos")
    numeric = []
    for k, v in sorted(params.items()):
        if k in roles or isinstance(v, (str, bool)) or v is None:
            continue
        arr = np.asarray(v, dtype=np.float64).reshape(-1)
        if arr.size and np.all(np.isfinite(arr)):
            numeric.append((k, int(arr.size)))
    # The skill's path, as consecutive pairs: eef -> role objects -> point arguments (xyz, target_xy).
    path = ["eef_pos"] + [n for n in inputs[len(ROBOT_INPUTS):] if n.endswith("_pos") and roles]
    path += [f"arg:{k}" for k, size in numeric if size in (2, 3)]
    pairs = tuple(zip(path[:-1], path[1:], strict=True))
    context = tuple(n for n in inputs[len(ROBOT_INPUTS):] if n.endswith("_pos")) if roles else ()
    return FeatureSpec(tuple(inputs), tuple(outputs), tuple(numeric), pairs, context)
