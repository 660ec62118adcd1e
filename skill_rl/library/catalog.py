"""The primitive catalog: every scripted primitive declared once, and everything else derived from it.

A :class:`PrimitiveSpec` says what a primitive *is*: its name and doc, its parameters (:class:`ParamSpec`:
kind, SI unit, size, valid range, which object kinds an object parameter may name, default), its symbolic
model (:class:`Case`: STRIPS-style preconditions and effects, per kind of binding), its success prior and
where its mechanics live (an ``ee_delta`` phase machine in ``skill_rl.envs.tabletop.primitives``, imported
only when a primitive is built, so that envs never needs the library and ``import skill_rl.library`` stays
light). From this one table come:

* parameter validation (:meth:`PrimitiveSpec.validate`, raising :class:`BadParamsError`): the library's
  loader, the ROS skill server's goal callback and the CLI all check calls the same way;
* the planner's declared operators (:func:`ground_operators`, wrapped by ``skill_rl.planning.symbolic``);
* the scripted library records (``skill_rl.library.scripted``);
* the default success check of a call (:meth:`PrimitiveSpec.succeeded`) and the demonstrator's plan
  (``skill_rl.library.demonstrator``).

Adding a primitive is one :func:`declare` (plus its mechanics class). Atom templates are written as text,
``"On(obj, target)"``: a parameter name stands for its value, ``*`` matches anything (in ``pre_not`` and
``delete_patterns``). All positions are metres in the world frame (the table top is z = 0, its centre the
origin); speeds are m/s.
"""

from __future__ import annotations

import difflib
import importlib
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from .store import LibraryError, UnknownSkillError

__all__ = [
    "CATALOG", "FREE", "OBJECT_KINDS", "POINT", "BadParamsError", "Case", "Catalog", "Grounding", "ParamSpec",
    "PrimitiveSpec", "achiever", "atom_holds", "declare", "ground_operators", "make_scripted", "object_param_names",
    "point_key", "primitive", "scene_kinds", "workspace",
]

Atom = tuple[str, ...]
FREE = ("cube", "cylinder")  # object kinds that move
OBJECT_KINDS = ("cube", "cylinder", "region", "drawer")
POINT = "point"  # in Case.when: a vector parameter given as numbers (not as an object's name)
KINDS_OF_PARAM = ("object", "number", "vector")
CEILING_M = 0.5  # highest grip-site target above the table top (m); the arm reaches ~0.85 m from its base
AT_TOL_M = 0.03  # At(obj, "x,y") holds when obj's centre is this close to the point (m), let go


class BadParamsError(LibraryError, ValueError):
    """A primitive call's parameters are missing, unknown, of the wrong type or out of range; the message names
    the parameter, the value given and what is valid."""


# ----------------------------------------------------------------------------------------------- workspaces
@cache
def _workspaces() -> dict[str, tuple[tuple[float, ...], tuple[float, ...], str]]:
    """Named bounds (low, high, description), from the scene itself (imported on first use: it loads MuJoCo)."""
    from skill_rl.envs.tabletop.scene import TABLE_HALF_SIZE

    hx, hy = float(TABLE_HALF_SIZE[0]), float(TABLE_HALF_SIZE[1])
    return {
        "table_xy": ((-hx, -hy), (hx, hy), "the table top, world frame"),
        "table_xyz": ((-hx, -hy, 0.0), (hx, hy, CEILING_M), f"above the table top up to {CEILING_M} m, world frame"),
    }


def workspace(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(low, high) of a named workspace (``table_xy``, ``table_xyz``), metres, world frame."""
    low, high, _ = _workspaces()[name]
    return low, high


# ----------------------------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a primitive.

    ``kind``: ``object`` (the name of a scene object whose kind is in ``objects``), ``number`` (a float) or
    ``vector`` (``size`` floats; with ``objects`` it may instead name an object of those kinds, whose position
    is then the target). ``low``/``high``: per-component bounds (a number has one), or ``within`` names a
    workspace (:func:`workspace`) whose bounds apply. ``unit``: SI (``m``, ``rad``, ``m/s``, ``s``).
    ``required=False`` parameters take ``default`` (None: the mechanics' own behaviour).
    """

    name: str
    kind: str
    doc: str
    unit: str = ""
    size: int = 1
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    within: str = ""
    objects: tuple[str, ...] = ()
    required: bool = True
    default: Any = None
    frame: str = "world"

    def __post_init__(self) -> None:
        if self.kind not in KINDS_OF_PARAM:
            raise ValueError(f"parameter {self.name}: kind must be one of {KINDS_OF_PARAM}, got {self.kind!r}")
        if self.kind == "object" and not self.objects:
            raise ValueError(f"parameter {self.name}: an object parameter needs the object kinds it accepts")
        if bad := [k for k in self.objects if k not in OBJECT_KINDS]:
            raise ValueError(f"parameter {self.name}: unknown object kind(s) {bad}; kinds: {OBJECT_KINDS}")

    def limits(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """Per-component (low, high) or None when unbounded."""
        if self.within:
            return workspace(self.within)
        if self.low or self.high:
            return self.low, self.high
        return None

    def _components(self) -> list[str]:
        if self.kind == "number":
            return [self.name]
        names = "xyz" if self.size <= 3 else ""
        return [f"{self.name}.{names[i]}" if names else f"{self.name}[{i}]" for i in range(self.size)]

    def describe(self) -> str:
        """One line: ``target_xy: vector[2] m (world) x in [-0.45, 0.45], y in [-0.6, 0.6], or a region``."""
        if self.kind == "object":
            text = f"{self.name}: the name of a {' / '.join(self.objects)}"
        else:
            text = f"{self.name}: {'number' if self.kind == 'number' else f'vector[{self.size}]'}"
            text += f" {self.unit}" if self.unit else ""
            text += f" ({self.frame})" if self.kind == "vector" and self.frame else ""
            if (lim := self.limits()) is not None:
                text += " " + ", ".join(f"{c.split('.')[-1] if '.' in c else c} in [{lo:g}, {hi:g}]"
                                        for c, lo, hi in zip(self._components(), *lim, strict=True))
            if self.objects:
                text += f", or the name of a {' / '.join(self.objects)}"
        if not self.required:
            text += f"; optional, default {self.default}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON form (for records, introspection and the ROS side)."""
        lim = self.limits() if self.kind != "object" else None
        return {"name": self.name, "kind": self.kind, "doc": self.doc, "unit": self.unit, "size": self.size,
                "low": list(lim[0]) if lim else None, "high": list(lim[1]) if lim else None,
                "objects": list(self.objects), "required": self.required, "default": self.default,
                "frame": self.frame}

    def check(self, value: Any, kinds: Mapping[str, str] | None, where: str) -> Any:
        """The value normalised (str, float or list of floats), or :class:`BadParamsError` saying why not.

        ``kinds`` (scene object name -> kind) checks object names against the scene; None checks types only.
        """
        if isinstance(value, str):
            if not self.objects:
                raise BadParamsError(f"{where}: {self.name}={value!r} is a name, but {self.describe()}")
            if kinds is not None:
                valid = [n for n, k in kinds.items() if k in self.objects]
                if kinds.get(value) not in self.objects:
                    what = (f"is a {kinds[value]}" if value in kinds else "is not an object of this scene")
                    raise BadParamsError(f"{where}: {self.name}={value!r} {what}; valid {' / '.join(self.objects)} "
                                         f"names here: {', '.join(valid) or '(none in this scene)'}")
            return value
        if self.kind == "object":
            raise BadParamsError(f"{where}: {self.name} must be the name of a {' / '.join(self.objects)}, "
                                 f"got {value!r}")
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise BadParamsError(f"{where}: {self.name}={value!r} is not numeric; {self.describe()}") from None
        if self.kind == "number":
            if arr.shape != ():
                raise BadParamsError(f"{where}: {self.name} must be one number ({self.unit}), got {value!r}")
        elif arr.shape != (self.size,):
            raise BadParamsError(f"{where}: {self.name} must be {self.size} numbers ({self.unit}, {self.frame}), "
                                 f"got {np.asarray(value).tolist()!r}")
        flat = arr.reshape(-1)
        if not np.isfinite(flat).all():
            raise BadParamsError(f"{where}: {self.name}={flat.tolist()} is not finite (NaN or inf); "
                                 f"{self.describe()}")
        if (lim := self.limits()) is not None:
            for comp, v, lo, hi in zip(self._components(), flat, *lim, strict=True):
                if not lo <= v <= hi:
                    region = f" ({_workspaces()[self.within][2]})" if self.within else ""
                    raise BadParamsError(f"{where}: {comp}={v:g} {self.unit} is out of range: valid [{lo:g}, "
                                         f"{hi:g}] {self.unit}{region}")
        return float(flat[0]) if self.kind == "number" else [float(v) for v in flat]


def _object(name: str, objects: tuple[str, ...], doc: str) -> ParamSpec:
    return ParamSpec(name, "object", doc, objects=objects, frame="")


# ------------------------------------------------------------------------------------------- symbolic model
_ATOM = re.compile(r"^\s*([A-Za-z]+)\s*\(\s*([^()]*)\)\s*$")


def _parse_atom(text: str) -> Atom:
    m = _ATOM.match(text)
    if not m:
        raise ValueError(f"bad atom template {text!r}: write Name(arg, ...)")
    args = tuple(a.strip() for a in m.group(2).split(",")) if m.group(2).strip() else ()
    return (m.group(1), *args)


def point_key(xy: Any) -> str:
    """The text that stands for a point in an atom, ``At(cube, "0.050,-0.100")``."""
    return ",".join(f"{float(v):.3f}" for v in np.asarray(xy, dtype=float).reshape(-1))


@dataclass(frozen=True)
class Case:
    """The symbolic model of a primitive for one kind of binding.

    ``when``: parameter -> object kinds (or :data:`POINT`) for which this case applies; the first case of a
    primitive that matches a call is its model. Atom templates as text (see the module docstring).
    """

    when: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    pre: tuple[str, ...] = ()
    pre_not: tuple[str, ...] = ()
    add: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    delete_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for group in (self.pre, self.pre_not, self.add, self.delete, self.delete_patterns):
            for text in group:
                _parse_atom(text)

    def matches(self, params: Mapping[str, Any], kinds: Mapping[str, str]) -> bool:
        for name, accepted in self.when.items():
            value = params.get(name)
            kind = kinds.get(value) if isinstance(value, str) else (POINT if value is not None else None)
            if kind not in accepted:
                return False
        return True

    def instantiate(self, group: tuple[str, ...], params: Mapping[str, Any]) -> tuple[Atom, ...]:
        def value(arg: str) -> str:
            if arg == "*" or arg not in params:
                return arg
            v = params[arg]
            return v if isinstance(v, str) else point_key(v)
        return tuple((a[0], *(value(x) for x in a[1:])) for a in map(_parse_atom, group))


@dataclass(frozen=True)
class Grounding:
    """One grounded call's symbolic model (``skill_rl.planning.symbolic.Operator`` is built from it)."""

    primitive: str
    params: tuple[tuple[str, Any], ...]
    pre: frozenset
    pre_not: tuple[Atom, ...]
    add: frozenset
    delete: frozenset
    delete_patterns: tuple[Atom, ...]
    prior: float


# ------------------------------------------------------------------------------------------- declarations
SuccessFn = Callable[[Any, np.ndarray, Mapping[str, Any]], bool]


@dataclass(frozen=True)
class PrimitiveSpec:
    """One scripted primitive, declared once (see the module docstring).

    ``mechanics``: ``"module:Class"`` of its phase machine, built as ``Class(env, **params)``. ``success``:
    ``(env, obs, params) -> bool`` for calls whose case declares no effect atoms (reach a point), else the
    effects holding is success. ``prior``: P(success) the planner assumes without a learned classifier.
    """

    name: str
    doc: str
    params: tuple[ParamSpec, ...]
    mechanics: str
    cases: tuple[Case, ...] = ()
    prior: float = 0.9
    success: SuccessFn | None = None

    def __post_init__(self) -> None:
        if not re.match(r"^[a-z][a-z0-9_]*$", self.name):
            raise ValueError(f"primitive name {self.name!r}: lower-case letters, digits and '_'")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"primitive {self.name}: duplicate parameter names {names}")
        for case in self.cases:
            if unknown := set(case.when) - set(names):
                raise ValueError(f"primitive {self.name}: a case refers to unknown parameter(s) {sorted(unknown)}")
        if not 0.0 < self.prior <= 1.0:
            raise ValueError(f"primitive {self.name}: prior must be in (0, 1], got {self.prior}")

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise BadParamsError(f"{self.name} has no parameter {name!r}; it takes {self.signature()}")

    def signature(self) -> str:
        return f"{self.name}({', '.join(p.name if p.required else f'{p.name}={p.default}' for p in self.params)})"

    def validate(self, params: Mapping[str, Any], kinds: Mapping[str, str] | None = None, *,
                 partial: bool = False) -> dict[str, Any]:
        """``params`` checked and normalised, defaults filled in; :class:`BadParamsError` naming the problem.

        ``kinds`` (object name -> kind, :func:`scene_kinds`) checks object names against a scene; ``partial``
        allows missing required parameters (a binding that a caller completes later).
        """
        where = self.name
        if unknown := sorted(set(params) - set(self.arg_names)):
            raise BadParamsError(f"{where}: unknown parameter(s) {', '.join(unknown)}; it takes {self.signature()}")
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in params and params[p.name] is not None:
                out[p.name] = p.check(params[p.name], kinds, where)
            elif p.required:
                if not partial:
                    raise BadParamsError(f"{where}: missing parameter {p.name} ({p.describe()}); it takes "
                                         f"{self.signature()}")
            else:
                out[p.name] = p.default
        named = [(k, v) for k, v in out.items() if isinstance(v, str)]
        for (k1, v1), (k2, v2) in itertools.combinations(named, 2):
            if v1 == v2:
                raise BadParamsError(f"{where}: {k1} and {k2} name the same object {v1!r}")
        return out

    def case(self, params: Mapping[str, Any], kinds: Mapping[str, str]) -> Case | None:
        """The symbolic case that models this call, or None (no declared effects)."""
        return next((c for c in self.cases if c.matches(params, kinds)), None)

    def ground(self, params: Mapping[str, Any], kinds: Mapping[str, str], prior: float | None = None
               ) -> Grounding | None:
        """The call's symbolic model (``params`` already valid), or None when no case declares one."""
        case = self.case(params, kinds)
        if case is None or not case.add:
            return None
        inst = case.instantiate
        values = tuple((p.name, _hashable(params[p.name])) for p in self.params
                       if p.name in params and params[p.name] is not None)
        return Grounding(self.name, values, frozenset(inst(case.pre, params)), inst(case.pre_not, params),
                         frozenset(inst(case.add, params)), frozenset(inst(case.delete, params)),
                         inst(case.delete_patterns, params), self.prior if prior is None else prior)

    def effects(self, params: Mapping[str, Any], kinds: Mapping[str, str]) -> tuple[Atom, ...]:
        """The atoms this call is declared to make true (its add list; empty if none is declared)."""
        case = self.case(params, kinds)
        return tuple(sorted(case.instantiate(case.add, params))) if case is not None else ()

    def succeeded(self, env: Any, obs: Any, params: Mapping[str, Any]) -> bool | None:
        """Did this call do its job in ``env``'s current state (``obs`` its observation)? Its declared effects
        hold; else its ``success`` check; None when the declaration cannot tell."""
        effects = self.effects(params, scene_kinds(env))
        if effects:
            return all(atom_holds(env, a) for a in effects)
        if self.success is not None:
            state = obs["state"] if isinstance(obs, dict) else obs
            return bool(self.success(env, np.asarray(state, dtype=np.float64), params))
        return None

    def mechanics_class(self) -> type:
        module, _, cls = self.mechanics.partition(":")
        return getattr(importlib.import_module(module), cls)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "doc": self.doc, "params": [p.to_dict() for p in self.params],
                "prior": self.prior, "mechanics": self.mechanics, "declares_effects": bool(self.cases)}


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


class Catalog(Mapping[str, PrimitiveSpec]):
    """Primitive name -> :class:`PrimitiveSpec`, in declaration order; unknown names list the known ones."""

    def __init__(self) -> None:
        self._specs: dict[str, PrimitiveSpec] = {}

    def __getitem__(self, name: str) -> PrimitiveSpec:
        try:
            return self._specs[name]
        except (KeyError, TypeError):
            pass
        close = difflib.get_close_matches(str(name), list(self._specs), n=3)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        raise UnknownSkillError(f"unknown primitive {name!r}{hint}; known primitives: {', '.join(self._specs)}")

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def declare(self, spec: PrimitiveSpec, *, replace: bool = False) -> PrimitiveSpec:
        if spec.name in self._specs and not replace:
            raise ValueError(f"primitive {spec.name!r} is already declared (replace=True to redeclare it)")
        self._specs[spec.name] = spec
        return spec

    def remove(self, name: str) -> None:
        self._specs.pop(name, None)


CATALOG = Catalog()


def declare(spec: PrimitiveSpec, *, replace: bool = False) -> PrimitiveSpec:
    """Add a primitive to :data:`CATALOG` (the one edit that adds a primitive, with its mechanics class)."""
    return CATALOG.declare(spec, replace=replace)


def primitive(name: str) -> PrimitiveSpec:
    """The declaration of ``name``; :class:`~skill_rl.library.store.UnknownSkillError` lists the known ones."""
    return CATALOG[name]


def object_param_names() -> tuple[str, ...]:
    """Parameter names that can name a scene object, over every declared primitive."""
    return tuple(dict.fromkeys(p.name for s in CATALOG.values() for p in s.params if p.objects))


def scene_kinds(env: Any) -> dict[str, str]:
    """Object name -> kind of a tabletop env's scene (wrapped or not), in the scene's order."""
    return {o.name: o.kind for o in env.unwrapped.task.objects}


def atom_holds(env: Any, atom: Atom, tol_m: float = AT_TOL_M) -> bool:
    """Truth of a ground atom in ``env``: the scene predicates, plus ``At(obj, "x,y")`` (centre within ``tol_m``
    of the point, let go), the atom of a push to a point."""
    base = env.unwrapped
    if atom[0] == "At":
        xy = np.array([float(v) for v in atom[2].split(",")])
        return bool(np.linalg.norm(base.body_pos(atom[1])[:2] - xy) < tol_m and not base.is_grasped(atom[1]))
    from skill_rl.envs.tabletop.predicates import holds

    return holds(base, atom)


def ground_operators(kinds: Mapping[str, str], names: Any = None) -> list[Grounding]:
    """Every grounded call over a scene's objects (name -> kind) that declares effects, of the primitives
    ``names`` (default: all). Only object bindings are enumerated (points come from goals).

    Order (it breaks the planner's ties, so it is kept stable): objects grouped by the first primitive that
    takes them as its first parameter, in scene order within a group; per object the primitives in
    declaration order; per primitive its cases in order, each over the scene's objects in order.
    """
    wanted = [CATALOG[n] for n in CATALOG if names is None or n in set(names)]
    objs = list(kinds)

    def rank(obj: str) -> int:
        for i, spec in enumerate(CATALOG.values()):
            if spec.params and kinds[obj] in spec.params[0].objects:
                return i
        return len(CATALOG)

    out: list[Grounding] = []
    for first in sorted(objs, key=lambda o: (rank(o), objs.index(o))):
        for spec in wanted:
            if not spec.cases or not spec.params or kinds[first] not in spec.params[0].objects:
                continue
            rest = [p for p in spec.params[1:] if p.required]
            for case in spec.cases:
                choices = []
                for p in rest:
                    accepted = case.when.get(p.name, p.objects)
                    choices.append([o for o in objs if kinds[o] in accepted and kinds[o] in p.objects and o != first])
                for combo in itertools.product(*choices):
                    if len(set(combo)) != len(combo):
                        continue
                    params = {spec.params[0].name: first, **{p.name: v for p, v in zip(rest, combo, strict=True)}}
                    params.update({p.name: p.default for p in spec.params if not p.required})
                    if case is not spec.case(params, kinds):
                        continue
                    g = spec.ground(params, kinds)
                    if g is not None:
                        out.append(g)
    return out


def achiever(atom: Atom, kinds: Mapping[str, str]) -> tuple[str, dict[str, Any]] | None:
    """The first declared call whose effects include ``atom`` (``On(a, region)`` read as ``In``,
    ``Closed`` as ``Close``, ``Grasped`` as ``Lifted``): ``(primitive, params)``, or None."""
    name = {"Closed": "Close", "Grasped": "Lifted"}.get(atom[0], atom[0])
    if name == "On" and kinds.get(atom[2]) == "region":
        name = "In"
    target = (name, *atom[1:])
    for g in ground_operators(kinds):
        named = [v for _, v in g.params if isinstance(v, str)]
        # the call must be about the atom's objects (OnTable(a) is not "achieved" by placing a somewhere)
        if target in g.add and set(named) <= set(atom[1:]):
            return g.primitive, {k: v for k, v in g.params if CATALOG[g.primitive].param(k).required}
    return None


def make_scripted(env: Any, name: str, **params: Any) -> Any:
    """The scripted primitive ``name`` bound to ``params`` in ``env``, as a library skill
    (:class:`~skill_rl.library.skill.ScriptedSkill`); parameters are validated against the scene."""
    from .skill import ScriptedSkill

    return ScriptedSkill(primitive(name), env, params)


# --------------------------------------------------------------------------------------------- the table
_MECH = "skill_rl.envs.tabletop.primitives"
PICKABLE = ("On(*, obj)", "Lifted(*)", "InDrawer(obj, *)")  # nothing on obj, nothing held, obj not in a drawer
MOVED = ("On(obj, *)", "In(obj, *)", "InDrawer(obj, *)", "OnTable(obj)", "Lifted(obj)")  # where obj was before
SPEED: dict[str, Any] = dict(unit="m/s", low=(0.02,), high=(1.0,), required=False)


def _grip_near(point: Callable[[Any, Mapping[str, Any]], Any], tol: float) -> SuccessFn:
    def check(env: Any, obs: np.ndarray, params: Mapping[str, Any]) -> bool:
        eef = obs[env.unwrapped.obs_layout["eef_pos"]]
        return bool(np.linalg.norm(eef - np.asarray(point(env, params))) < tol)
    return check


def _home_point(env: Any, params: Mapping[str, Any]) -> Any:
    from skill_rl.envs.tabletop.primitives import home_grip_pose

    return home_grip_pose(env)[0]


declare(PrimitiveSpec(
    "pick_place", "grasp obj from above and put it on target: a cube/cylinder (stack), a region's centre, or the "
    "open drawer's tray",
    (_object("obj", FREE, "the object to move"),
     _object("target", (*FREE, "region", "drawer"), "where it goes")),
    f"{_MECH}:PickPlace",
    cases=(
        Case({"target": FREE}, pre_not=(*PICKABLE, "On(*, target)"), add=("On(obj, target)",), delete_patterns=MOVED),
        # one object per region: the primitive aims at its centre
        Case({"target": ("region",)}, pre_not=(*PICKABLE, "In(*, target)"), add=("In(obj, target)", "OnTable(obj)"),
             delete_patterns=MOVED),
        Case({"target": ("drawer",)}, pre=("Open(target)",), pre_not=PICKABLE, add=("InDrawer(obj, target)",),
             delete_patterns=MOVED),
    ),
    prior=0.9,
))
declare(PrimitiveSpec(
    "push", "close the gripper into a paddle and push obj along the table to target_xy",
    (_object("obj", FREE, "the object to push"),
     ParamSpec("target_xy", "vector", "where obj's centre should end up", unit="m", size=2, within="table_xy",
               objects=("region",))),
    f"{_MECH}:Push",
    cases=(
        # only a free-standing object on the table can be pushed
        Case({"target_xy": ("region",)}, pre=("OnTable(obj)",), pre_not=(*PICKABLE, "In(*, target_xy)"),
             add=("In(obj, target_xy)", "OnTable(obj)"), delete_patterns=("In(obj, *)",)),
        Case({"target_xy": (POINT,)}, pre=("OnTable(obj)",), pre_not=PICKABLE, add=("At(obj, target_xy)",),
             delete_patterns=("At(obj, *)", "In(obj, *)")),
    ),
    prior=0.8,  # it can overshoot
))
declare(PrimitiveSpec(
    "open_drawer", "grasp the drawer's handle and pull it open",
    (_object("drawer", ("drawer",), "the cabinet whose drawer to open"),),
    f"{_MECH}:OpenDrawer",
    cases=(Case(pre_not=("Open(drawer)", "Lifted(*)"), add=("Open(drawer)",), delete=("Close(drawer)",)),),
    prior=0.9,
))
declare(PrimitiveSpec(
    "close_drawer", "push the drawer closed (the front plate beside the handle)",
    (_object("drawer", ("drawer",), "the cabinet whose drawer to close"),),
    f"{_MECH}:CloseDrawer",
    cases=(Case(pre_not=("Close(drawer)", "Lifted(*)"), add=("Close(drawer)",), delete=("Open(drawer)",)),),
    prior=0.9,
))
declare(PrimitiveSpec(
    "reach", "move the grip site to xyz with the gripper open and pointing down",
    (ParamSpec("xyz", "vector", "grip-site target", unit="m", size=3, within="table_xyz"),
     ParamSpec("speed", "number", "top grip-site speed (default: the controller's limit)", frame="", **SPEED)),
    f"{_MECH}:Reach",
    prior=0.9,
    success=_grip_near(lambda env, p: p["xyz"], 0.02),
))
declare(PrimitiveSpec(
    "lift", "grasp obj and lift it until its centre is 13 cm above the table",
    (_object("obj", FREE, "the object to lift"),),
    f"{_MECH}:Lift",
    cases=(Case(pre_not=PICKABLE, add=("Lifted(obj)",), delete_patterns=MOVED),),
    prior=0.9,
))
declare(PrimitiveSpec(
    "home", "open the gripper, rise straight up to a safe height if low, then move to the home grip pose (never "
    "sweeping low across the table)",
    (ParamSpec("speed", "number", "top grip-site speed", frame="", **{**SPEED, "default": 0.5}),),
    f"{_MECH}:Home",
    prior=0.95,
    success=_grip_near(_home_point, 0.02),
))
