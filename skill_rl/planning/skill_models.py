"""Learned models of a skill for the planner: skill dynamics and an initiation/success classifier.

For a library skill, :func:`fit_skill_models` runs the skill from varied start states, then fits two small
torch MLPs and stores them as TorchScript in a new version of the library entry (``dynamics.pt``,
``classifier.pt``) with their held-out metrics:

* **dynamics**: start state -> state after the skill's step budget (end-effector position, the positions of
  the free objects it names, drawer openings), predicted as a change relative to a base chosen from the
  training data: the value's own start ("nothing moves" is then zero change) or another position, e.g. the
  place target. The metrics compare its held-out error with the nothing-moves baseline.
* **classifier**: start state -> P(the skill succeeds within its budget); compared with always answering
  the majority class.

Features are object-centric and named by role: for ``pick_place(obj, target)`` the inputs are
``eef_pos, gripper_qpos, {obj}_pos, {target}_pos`` and numeric arguments (``target_xy``, ``xyz``), so one
model serves any binding of the roles. Skills without object arguments (learned skills) use every object
of the scene. :class:`SkillModels` gathers the features for the planner and applies the models.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from skill_rl.errors import UserError
from skill_rl.library import SkillEntry, SkillLibrary
from skill_rl.library.primitives import OBJECT_ARGS

__all__ = [
    "ClassifierNet", "DynamicsNet", "FeatureSpec", "FitModelsConfig", "SkillModelConfig", "SkillModels",
    "SkillModelsReport", "SkillRollouts", "collect_rollouts", "default_success", "feature_spec", "fit_classifier",
    "fit_dynamics", "fit_skill_models", "run_fit_models",
]

Params = dict[str, Any] | Callable[[Any, np.random.Generator], dict[str, Any]]
StartFn = Callable[[Any, np.random.Generator, Any], Any]
ROBOT_INPUTS = ("eef_pos", "gripper_qpos")
_TEMPLATE = re.compile(r"\{(\w+)\}_(\w+)")


# ---------------------------------------------------------------------------------------------- features
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


def _field_size(layout: dict[str, slice], name: str) -> int:
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


# ---------------------------------------------------------------------------------------------- rollouts
class SkillRollouts(NamedTuple):
    """Rollouts of one skill: start and end observations ``[N, D]``, success ``[N]`` (bool), steps ``[N]``,
    and the argument binding of each rollout."""

    start: np.ndarray
    end: np.ndarray
    success: np.ndarray
    steps: np.ndarray
    params: list[dict[str, Any]]


def _state(obs: Any) -> np.ndarray:
    return np.asarray(obs["state"] if isinstance(obs, dict) else obs, dtype=np.float32)


def collect_rollouts(
    entry: SkillEntry, env: Any, n_rollouts: int, *, params: Params | None = None, budget: int | None = None,
    seed: int = 0, wander_steps: int = 10, success_fn: Callable[[Any, dict], bool] | None = None,
    success_atoms: Sequence[tuple[str, ...]] | None = None, start_fn: StartFn | None = None, progress: bool = False,
) -> SkillRollouts:
    """Run ``entry`` ``n_rollouts`` times in ``env`` from varied starts; record start/end states and success.

    Starts vary by the env's seeded reset, by ``start_fn(env, rng, obs) -> obs`` if given (e.g. run another
    skill first, as a plan would), and by 0..``wander_steps`` random end-effector moves before the skill
    starts (so the gripper does not always start at home). Each rollout runs until the primitive says
    ``done`` or after ``budget`` steps (default: the primitive's ``horizon``). Success is ``success_fn(env,
    info)``, else all ``success_atoms`` holding (``skill_rl.envs.tabletop.predicates``), else
    :func:`default_success`. ``params`` binds the skill's arguments, or samples a binding per rollout.
    """
    if n_rollouts < 1:
        raise UserError(f"n_rollouts must be >= 1, got {n_rollouts}")
    rng = np.random.default_rng(seed)
    starts, ends, success, steps, bindings = [], [], [], [], []
    iterator = range(n_rollouts)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=f"rollouts {entry.key}", unit="rollout")
    for i in iterator:
        obs, info = env.reset(seed=seed + i)
        if start_fn is not None:
            obs = start_fn(env, rng, obs)
        for _ in range(int(rng.integers(0, wander_steps + 1))):
            action = np.zeros(env.action_space.shape, dtype=np.float32)
            action[:3] = rng.uniform(-1, 1, size=3)
            action[-1] = -1.0  # gripper open: move, do not grab
            obs, _, terminated, truncated, info = env.step(action)
        binding = dict(params(env, rng) if callable(params) else (params or {}))
        primitive = entry.load(env, **binding)
        primitive.reset()
        start = _state(obs)
        limit = int(budget if budget is not None else getattr(primitive, "horizon", 100))
        k = 0
        while k < limit and not primitive.done(obs):
            obs, _, terminated, truncated, info = env.step(primitive.act(obs))
            k += 1
            if terminated or truncated:
                break
        if success_fn is not None:
            ok = success_fn(env, info)
        elif success_atoms:
            ok = _atoms_hold(env, success_atoms)
        else:
            ok = default_success(entry, binding, env, info)
        starts.append(start)
        ends.append(_state(obs))
        success.append(bool(ok))
        steps.append(k)
        bindings.append(binding)
    return SkillRollouts(np.stack(starts), np.stack(ends), np.asarray(success), np.asarray(steps), bindings)


def _atoms_hold(env: Any, atoms: Sequence[Sequence[str]]) -> bool:
    from skill_rl.envs.tabletop.predicates import holds

    return all(holds(env.unwrapped, tuple(a)) for a in atoms)


def default_success(entry: SkillEntry, binding: dict[str, Any], env: Any, info: dict[str, Any]) -> bool:
    """Did the skill do its job? Scripted primitives: their declared effects hold (``primitive_effects``);
    ``push`` to a point: the object's centre is within 3 cm of it; ``reach``: the grip site is within 2 cm.
    Anything else: the env's ``info["is_success"]``."""
    if entry.kind == "scripted":
        from skill_rl.envs.tabletop.primitives import primitive_effects

        name = str(entry.params.get("primitive", entry.name))
        args = {**entry.params.get("bound", {}), **binding}
        base = env.unwrapped
        kinds = {o.name: o.kind for o in base.task.objects}
        effects = primitive_effects(name, args, kinds)
        if effects:
            return _atoms_hold(env, effects)
        if name == "push":
            return bool(np.linalg.norm(base.body_pos(args["obj"])[:2] - np.asarray(args["target_xy"])[:2]) < 0.03)
        if name == "reach":
            return bool(np.linalg.norm(base.eef_pos() - np.asarray(args["xyz"])) < 0.02)
    return bool(info.get("is_success", False))


# ---------------------------------------------------------------------------------------------- models
class DynamicsNet(nn.Module):
    """x[B, F] -> predicted outputs[B, K] after the skill = a base column of x + MLP change (normalised inside).

    ``base_idx[j]`` is the feature column output ``j`` is predicted relative to: its own start value (so zero
    change is "nothing moves") or the same coordinate of another position, e.g. the place target for the
    object being placed (its end position is then nearly a constant offset, which generalises to new places).
    """

    def __init__(self, n_in: int, base_idx: Sequence[int], hidden: int = 64) -> None:
        super().__init__()
        k = len(base_idx)
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, k))
        self.register_buffer("base_idx", torch.as_tensor(list(base_idx), dtype=torch.long))
        self.register_buffer("x_mean", torch.zeros(n_in))
        self.register_buffer("x_std", torch.ones(n_in))
        self.register_buffer("d_mean", torch.zeros(k))
        self.register_buffer("d_std", torch.ones(k))

    def change(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised predicted change (what is trained)."""
        return self.net((x - self.x_mean) / self.x_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.base_idx) + self.change(x) * self.d_std + self.d_mean


class ClassifierNet(nn.Module):
    """x[B, F] -> P(success)[B]."""

    def __init__(self, n_in: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 1))
        self.register_buffer("x_mean", torch.zeros(n_in))
        self.register_buffer("x_std", torch.ones(n_in))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.x_mean) / self.x_std).squeeze(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))


@dataclass
class SkillModelConfig:
    """Training settings for both models (full-batch Adam; the data sets are small)."""

    hidden: int = 64
    epochs: int = 600
    lr: float = 3e-3
    weight_decay: float = 1e-4
    holdout: float = 0.25  # fraction of rollouts held out for the reported metrics
    seed: int = 0


def _stats(x: np.ndarray, floor: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std per column; std is floored (1 mm / 1 mrad) so a column that barely varies in training
    (an open gripper, an object that stays put) is not blown up into large normalised values later."""
    mean, std = x.mean(0), np.maximum(x.std(0), floor)
    return torch.as_tensor(mean, dtype=torch.float32), torch.as_tensor(std, dtype=torch.float32)


def _split(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n < 4:
        raise UserError(f"need at least 4 rollouts to fit and test skill models, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = min(n - 2, max(1, int(round(n * holdout))))
    return perm[n_test:], perm[:n_test]


def _train(model: nn.Module, loss_fn: Callable[[], torch.Tensor], cfg: SkillModelConfig) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss = torch.zeros(())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: extra threads only add overhead (and fight on a shared machine)
    try:
        for _ in range(cfg.epochs):
            opt.zero_grad()
            loss = loss_fn()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return float(loss.detach())


def _per_field_error(pred: np.ndarray, true: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Mean over rows of the Euclidean error of each output field -> [n_fields]."""
    errs, start = [], 0
    for size in sizes:
        errs.append(np.linalg.norm(pred[:, start:start + size] - true[:, start:start + size], axis=1).mean())
        start += size
    return np.asarray(errs)


def fit_dynamics(x: np.ndarray, y: np.ndarray, out_idx: Sequence[int], out_sizes: list[int], out_names: list[str],
                 cfg: SkillModelConfig, candidates: Sequence[Sequence[int]] | None = None,
                 ) -> tuple[DynamicsNet, dict[str, Any]]:
    """Fit :class:`DynamicsNet` on features ``x`` -> outputs ``y``; held-out error vs the nothing-moves baseline.

    ``out_idx[j]``: the column of x holding output j's start value (the nothing-moves prediction).
    ``candidates[f]``: for output field ``f`` (``out_sizes`` columns each), other column lists it may be
    predicted relative to (one column per coordinate); per field, the base whose residual varies least on
    the training rollouts is kept (chosen on training data only; one base per field, so a coordinate that
    never varies in training follows the others).
    """
    torch.manual_seed(cfg.seed)
    train, test = _split(len(x), cfg.holdout, cfg.seed)
    now = x[:, list(out_idx)]
    base_idx: list[int] = []
    start = 0
    for f, size in enumerate(out_sizes):
        own = list(out_idx[start:start + size])
        options = [own, *(candidates[f] if candidates else ())]
        spread = [float(np.var(y[train, start:start + size] - x[train][:, cols], axis=0).sum()) for cols in options]
        base_idx += [int(c) for c in options[int(np.argmin(spread))]]
        start += size
    delta = y - x[:, base_idx]
    model = DynamicsNet(x.shape[1], base_idx, cfg.hidden)
    model.x_mean, model.x_std = _stats(x[train])
    model.d_mean, model.d_std = _stats(delta[train])
    xt = torch.as_tensor(x[train])
    target = (torch.as_tensor(delta[train]) - model.d_mean) / model.d_std
    final = _train(model, lambda: ((model.change(xt) - target) ** 2).mean(), cfg)
    model.eval()
    with torch.no_grad():
        pred = model(torch.as_tensor(x[test])).numpy()
    model_err = _per_field_error(pred, y[test], out_sizes)
    still_err = _per_field_error(now[test], y[test], out_sizes)
    objects = [i for i, n in enumerate(out_names) if n != "eef_pos"] or list(range(len(out_names)))
    metrics = {
        "n_train": int(len(train)), "n_test": int(len(test)), "train_loss": final,
        "heldout_error_m": float(model_err[objects].mean()),
        "nothing_moves_error_m": float(still_err[objects].mean()),
        "per_field": {n: {"model": float(m), "nothing_moves": float(s)}
                      for n, m, s in zip(out_names, model_err, still_err, strict=True)},
        "base_columns": base_idx,
    }
    # What actually moved in these rollouts (more than 5 mm on average): the fair comparison for any skill.
    moving = [i for i, s in enumerate(still_err) if s > 0.005] or list(range(len(out_names)))
    metrics["moving_fields"] = [out_names[i] for i in moving]
    metrics["moving_error_m"] = float(model_err[moving].mean())
    metrics["moving_nothing_moves_error_m"] = float(still_err[moving].mean())
    metrics["improvement"] = float(1.0 - metrics["moving_error_m"] / max(metrics["moving_nothing_moves_error_m"], 1e-12))
    return model, metrics


def fit_classifier(x: np.ndarray, success: np.ndarray, cfg: SkillModelConfig) -> tuple[ClassifierNet, dict[str, Any]]:
    """Fit :class:`ClassifierNet`; held-out accuracy vs always predicting the training set's majority class."""
    torch.manual_seed(cfg.seed + 1)
    train, test = _split(len(x), cfg.holdout, cfg.seed)
    yb = success.astype(np.float32)
    model = ClassifierNet(x.shape[1], cfg.hidden)
    model.x_mean, model.x_std = _stats(x[train])
    xt, yt = torch.as_tensor(x[train]), torch.as_tensor(yb[train])
    pos = float(yt.mean())
    # Balance the classes, so a rare outcome is not learned away.
    w = torch.where(yt > 0.5, 0.5 / max(pos, 1e-3), 0.5 / max(1 - pos, 1e-3))
    bce = nn.functional.binary_cross_entropy_with_logits
    final = _train(model, lambda: bce(model.logits(xt), yt, weight=w), cfg)
    model.eval()
    with torch.no_grad():
        prob = model(torch.as_tensor(x[test])).numpy()
    majority = float(pos >= 0.5)
    metrics = {
        "n_train": int(len(train)), "n_test": int(len(test)), "train_loss": final,
        "success_rate": float(yb.mean()),
        "heldout_accuracy": float(((prob >= 0.5) == (yb[test] > 0.5)).mean()),
        "majority_accuracy": float((yb[test] == majority).mean()),
    }
    return model, metrics


# ---------------------------------------------------------------------------------------------- fit + store
@dataclass
class SkillModelsReport:
    """What :func:`fit_skill_models` did: the new library entry and the held-out metrics."""

    entry: SkillEntry
    dynamics: dict[str, Any]
    classifier: dict[str, Any]
    features: FeatureSpec
    n_rollouts: int
    success_rate: float
    mean_steps: float
    config: dict[str, Any] = field(default_factory=dict)
    dynamics_model: DynamicsNet | None = None
    classifier_model: ClassifierNet | None = None


def _script_save(module: nn.Module, path: Path) -> Path:
    import warnings

    with warnings.catch_warnings():  # torch >= 2.9 flags TorchScript as deprecated; it is the library's format
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(module), str(path))
    return path


def fit_skill_models(
    library: SkillLibrary, skill_name: str, env_factory: Callable[[], Any], n_rollouts: int, *,
    params: Params | None = None, version: int | None = None, budget: int | None = None, seed: int = 0,
    wander_steps: int = 10, success_fn: Callable[[Any, dict], bool] | None = None,
    success_atoms: Sequence[tuple[str, ...]] | None = None, start_fn: StartFn | None = None,
    config: SkillModelConfig | None = None, save_as: str | None = None, progress: bool = False,
) -> SkillModelsReport:
    """Collect rollouts of ``skill_name`` in ``env_factory()``, fit its dynamics model and success classifier,
    and store both (TorchScript) with their metrics as a new version of the skill (or of ``save_as``).

    ``params`` binds the skill's arguments (or samples a binding per rollout: ``params(env, rng) -> dict``);
    ``budget`` caps the steps per rollout (default the primitive's horizon); see :func:`collect_rollouts`.
    """
    cfg = config or SkillModelConfig()
    entry = library.get(skill_name, version)
    env = env_factory()
    try:
        data = collect_rollouts(entry, env, n_rollouts, params=params, budget=budget, seed=seed,
                                wander_steps=wander_steps, success_fn=success_fn, success_atoms=success_atoms,
                                start_fn=start_fn, progress=progress)
        layout = dict(env.unwrapped.obs_layout)
    finally:
        env.close()
    spec = feature_spec(layout, data.params[0])
    x = np.concatenate([spec.gather(s, layout, p) for s, p in zip(data.start, data.params, strict=True)])
    # Outputs: the same fields of the end state; their columns in x are where the inputs hold them.
    out_names = list(spec.outputs)
    sizes = [_field_size(layout, n) for n in spec.resolve(out_names, data.params[0])]
    blocks = spec.slices(data.start[:1], layout, data.params[0])
    # Positions an output may be predicted relative to: the robot's, the role objects', point arguments.
    anchors = [b for n, b in blocks.items()
               if (":" not in n and n.endswith("_pos")) or (n.startswith("arg:") and b.stop - b.start in (2, 3))]
    out_idx, candidates = [], []
    for name in out_names:
        own = list(range(blocks[name].start, blocks[name].stop))
        out_idx += own
        options = []
        if name.endswith("_pos"):  # a 2-d anchor (a point on the table) gives x, y; z stays the object's own
            for a in anchors:
                cols = [a.start + k if k < a.stop - a.start else own[k] for k in range(len(own))]
                if cols != own:
                    options.append(cols)
        candidates.append(options)
    col_name = {b.start + k: f"{n}[{k}]" for n, b in blocks.items() for k in range(b.stop - b.start)}
    y = np.stack([np.concatenate([e[layout[n]] for n in spec.resolve(out_names, p)])
                  for e, p in zip(data.end, data.params, strict=True)]).astype(np.float32)
    dyn, dyn_metrics = fit_dynamics(x, y, out_idx, sizes, out_names, cfg, candidates)
    dyn_metrics["base_columns"] = [col_name[c] for c in dyn_metrics["base_columns"]]
    clf, clf_metrics = fit_classifier(x, data.success, cfg)
    meta = {
        **spec.to_dict(), "budget": budget, "n_rollouts": int(n_rollouts), "wander_steps": wander_steps,
        "fitted_with": {k: v for k, v in data.params[0].items() if isinstance(v, str)},
        "success": ("success_fn" if success_fn else [list(a) for a in success_atoms] if success_atoms else "is_success"),
        "output_sizes": sizes, "config": asdict(cfg),
    }
    with TemporaryDirectory() as tmp:
        files = {"dynamics.pt": _script_save(dyn, Path(tmp) / "dynamics.pt"),
                 "classifier.pt": _script_save(clf, Path(tmp) / "classifier.pt")}
        metrics = {"dynamics": dyn_metrics, "classifier": clf_metrics}
        if save_as is not None and save_as != entry.name:
            from skill_rl.library import SkillRecord

            bound = {**entry.params.get("bound", {}), **(params if isinstance(params, dict) else {})}
            record = SkillRecord(name=save_as, kind=entry.kind, env_id=entry.env_id, obs_spec=entry.obs_spec,
                                 action_spec=entry.action_spec, description=entry.description,
                                 params={**entry.params, "bound": bound, "models": meta},
                                 metrics={**entry.metrics, **metrics})
            new = library.add(record, {**{f: entry.file(f) for f in entry.files if f not in files}, **files})
        else:
            new = library.add_files(entry.name, files, metrics=metrics, params={"models": meta}, version=entry.version)
    return SkillModelsReport(new, dyn_metrics, clf_metrics, spec, int(n_rollouts), float(data.success.mean()),
                             float(data.steps.mean()), asdict(cfg), dyn, clf)


# ---------------------------------------------------------------------------------------------- for the planner
class SkillModels:
    """A skill's stored models applied to observations: ``predict`` (state after the skill) and
    ``success_prob``. Needs nothing but the library entry (TorchScript)."""

    def __init__(self, entry: SkillEntry) -> None:
        meta = entry.params.get("models")
        if not meta:
            raise UserError(f"skill {entry.key} has no learned models; fit them with fit_skill_models "
                            f"(or `skill-rl skills fit-models {entry.name}`)")
        self.entry = entry
        self.spec = FeatureSpec.from_dict(meta)
        self.sizes = [int(k) for k in meta["output_sizes"]]
        self.bound = dict(entry.params.get("bound", {}))
        self.dynamics = entry.load_dynamics()
        self.classifier = entry.load_classifier()

    def features(self, obs: np.ndarray, layout: dict[str, slice], params: dict[str, Any]) -> torch.Tensor:
        return torch.as_tensor(self.spec.gather(obs, layout, {**self.bound, **params}))

    def predict(self, obs: np.ndarray, layout: dict[str, slice], **params: Any) -> np.ndarray:
        """Observations ``[B, D]`` (or ``[D]``) with the predicted fields replaced by their values after the skill."""
        obs = np.asarray(obs, dtype=np.float32)
        out = np.array(np.atleast_2d(obs), copy=True)
        with torch.no_grad():
            y = self.dynamics(self.features(out, layout, params)).numpy()
        start = 0
        for name, size in zip(self.spec.resolve(self.spec.outputs, {**self.bound, **params}), self.sizes, strict=True):
            if name in layout:  # a point standing in for an object has nothing to write back
                out[:, layout[name]] = y[:, start:start + size]
            start += size
        return out if obs.ndim == 2 else out[0]

    def success_prob(self, obs: np.ndarray, layout: dict[str, slice], **params: Any) -> np.ndarray | float:
        """P(success within the budget) for each observation (a float for one observation)."""
        obs = np.asarray(obs, dtype=np.float32)
        with torch.no_grad():
            p = self.classifier(self.features(obs, layout, params)).numpy()
        return float(p[0]) if obs.ndim == 1 else p



# ---------------------------------------------------------------------------------------------- a run
@dataclass
class FitModelsConfig:
    """``skill-rl skills fit-models``: fit one skill's models in a task scene and store them in the library.

    ``args`` binds the skill's arguments (``args={obj: cube_yellow, target: cube_red}``); ``sample`` draws a
    point argument per rollout uniformly from a box (``sample={xyz: [[-0.2, -0.3, 0.05], [0.2, 0.3, 0.35]]}``).
    """

    skill: str = "pick_place"
    task: str = "tasks/push_then_stack.task"
    library: str | None = None  # default: $SKILL_RL_LIBRARY or ~/.skill_rl/skills
    version: int | None = None  # default: the latest
    rollouts: int = 100
    args: dict[str, Any] = field(default_factory=lambda: {"obj": "cube_yellow", "target": "cube_red"})
    sample: dict[str, Any] = field(default_factory=dict)
    budget: int | None = None  # steps per rollout; default: the primitive's horizon
    wander_steps: int = 20
    seed: int = 0
    save_as: str | None = None  # store as a new skill with the arguments bound, instead of a new version
    model: SkillModelConfig = field(default_factory=SkillModelConfig)
    out_dir: str = "runs"
    debug: bool = False  # tiny: 8 rollouts, 30 epochs


def _sampler(args: dict[str, Any], sample: dict[str, Any]) -> Params:
    boxes = {}
    for name, box in sample.items():
        low, high = (np.asarray(b, dtype=np.float64) for b in box)
        if low.shape != high.shape or low.ndim != 1 or np.any(low > high):
            raise UserError(f"sample.{name} must be [[low...], [high...]] with low <= high, got {box}")
        boxes[name] = (low, high)
    if not boxes:
        return dict(args)
    return lambda env, rng: {**args, **{k: rng.uniform(lo, hi).tolist() for k, (lo, hi) in boxes.items()}}


def run_fit_models(cfg: FitModelsConfig, progress: bool = True) -> dict[str, Any]:
    """Fit and store a skill's models (see :func:`fit_skill_models`); write a run folder with config.yaml,
    metrics, a plot of held-out errors and summary.json. Returns the summary."""
    from skill_rl.envs import make_task_env
    from skill_rl.planning.tasklang import load_task
    from skill_rl.runs import start_run

    if cfg.debug:
        cfg.rollouts, cfg.model.epochs = min(cfg.rollouts, 8), min(cfg.model.epochs, 30)
    spec = load_task(cfg.task)
    library = SkillLibrary(cfg.library)
    library.get(cfg.skill, cfg.version)  # fail on a bad name before making a run folder
    params = _sampler(cfg.args, cfg.sample)
    with start_run(cfg.out_dir, f"skillmodels-{cfg.skill}", cfg) as run:
        report = fit_skill_models(
            library, cfg.skill, lambda: make_task_env(spec), cfg.rollouts, params=params, version=cfg.version,
            budget=cfg.budget, seed=cfg.seed, wander_steps=cfg.wander_steps, config=cfg.model, save_as=cfg.save_as,
            progress=progress,
        )
        dyn, clf = report.dynamics, report.classifier
        run.metrics.log({"dynamics/heldout_error_m": dyn["heldout_error_m"],
                         "dynamics/nothing_moves_error_m": dyn["nothing_moves_error_m"],
                         "classifier/heldout_accuracy": clf["heldout_accuracy"],
                         "classifier/majority_accuracy": clf["majority_accuracy"]}, step=cfg.rollouts)
        plot = _plot(report, run.subdir("plots") / "heldout.png")
        summary = {
            "skill": cfg.skill, "task": cfg.task, "entry": report.entry.key, "library": str(library.root),
            "rollouts": cfg.rollouts, "success_rate": report.success_rate, "mean_steps": report.mean_steps,
            "dynamics": dyn, "classifier": clf, "features": report.features.to_dict(),
            "plot": str(plot) if plot else None, "run_dir": str(run.path),
        }
        run.write_summary(summary)
    return summary


def _plot(report: SkillModelsReport, path: Path) -> Path | None:
    """Bars: held-out error per predicted field (model vs nothing moves), accuracy vs majority class."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # plots are a nicety; the numbers are in summary.json
        return None
    fields = report.dynamics["per_field"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5), gridspec_kw={"width_ratios": [3, 1]})
    xs = np.arange(len(fields))
    ax1.bar(xs - 0.2, [v["model"] for v in fields.values()], 0.4, label="dynamics model")
    ax1.bar(xs + 0.2, [v["nothing_moves"] for v in fields.values()], 0.4, label="nothing moves")
    ax1.set_xticks(xs, list(fields), rotation=15)
    ax1.set_ylabel("held-out error (m)")
    ax1.legend()
    clf = report.classifier
    ax2.bar([0, 1], [clf["heldout_accuracy"], clf["majority_accuracy"]], color=["C0", "C1"])
    ax2.set_xticks([0, 1], ["classifier", "majority"])
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("held-out accuracy")
    fig.suptitle(f"{report.entry.key}: {report.n_rollouts} rollouts, success {report.success_rate:.0%}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
