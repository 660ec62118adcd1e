"""Fit a skill's dynamics model and success classifier from rollouts and store them in the library."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import torch
from torch import nn

from skill_rl.errors import UserError
from skill_rl.library import SkillEntry, SkillLibrary

from .skill_features import FeatureSpec, feature_spec, field_size
from .skill_nets import ClassifierNet, DynamicsNet
from .skill_rollouts import Params, StartFn, collect_rollouts

__all__ = ["SkillModelConfig", "SkillModelsReport", "fit_classifier", "fit_dynamics", "fit_skill_models"]


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
    sizes = [field_size(layout, n) for n in spec.resolve(out_names, data.params[0])]
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
