"""``skill-rl sweep``: a grid or random search over a runner's config keys x seeds, on Ray Tune.

A sweep config (:class:`SweepConfig`, e.g. ``configs/sweeps/slim_weights.yaml``) names a runner
(``discovery``: :func:`skill_rl.discovery.train.run_discovery`; ``lifelong``:
:func:`skill_rl.lifelong.protocol.run_lifelong`), the runner's own config file, keys fixed for every trial,
and the swept keys (dotted, as on the command line: ``weights.reach``). Every trial is an ordinary run folder
of that runner, so everything that reads a run (``skill-rl discover --eval``, ``skills add-slim``, the
plots) works on a trial too.

Sweep folder (``<storage>/<name>-<stamp>/``)::

    config.yaml                 this sweep's resolved config (``--resume`` reads it back)
    tune/                       Ray Tune's experiment state (Tuner.restore)
    trials/<trial_id>/          the trial's run_root: its run folder (``discovery-<stamp>/``...),
                                attempts.jsonl (one line per start: pid, node, resumed run and step), trial.json
    results.md|csv|json         one row per parameter combination: mean ± std over seeds (and one per trial)
    plots/sweep.png             the sweep metric per combination, seeds as dots
    summary.json

Fault tolerance: Tune restarts a trial whose worker died (``FailureConfig(max_failures)``); the restarted
trial finds its run folder under ``trials/<trial_id>/`` and resumes it through the runner's own resume path
(discovery: the latest atomic ``ckpt/step_<n>.zip`` + replay buffer; lifelong: the per-seed checkpoint after
the last finished task). Checkpoints are therefore ours, not Tune's: nothing is copied twice. On a multi-node
cluster the sweep folder must be on storage every node mounts at the same path (NFS), see ``docs/dist.md``.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import json
import math
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from skill_rl.config import ConfigError, config_from_dict, config_to_dict, load_config
from skill_rl.errors import UserError
from skill_rl.fileio import atomic_write_text
from skill_rl.registry import Registry
from skill_rl.runs import RunDir, start_run, to_jsonable

from .pool import check_address, ray_session

__all__ = ["RUNNERS", "Runner", "SweepConfig", "SweepError", "aggregate_trials", "load_sweep_config", "run_sweep",
           "trial_configs"]

DISTRIBUTIONS = ("uniform", "loguniform", "quniform", "randint", "choice")


class SweepError(UserError, ValueError):
    """The sweep config cannot be run (unknown runner, empty grid, bad distribution...)."""


@dataclass
class SweepConfig:
    """Settings of ``skill-rl sweep`` (``configs/sweeps/*.yaml``)."""

    runner: str = "discovery"  # discovery | lifelong
    base_config: str | None = None  # the runner's YAML (e.g. configs/slim_push.yaml); null: its defaults
    fixed: dict[str, Any] = field(default_factory=dict)  # runner keys set in every trial (dotted keys: weights.reach)
    params: dict[str, Any] = field(default_factory=dict)  # swept keys: [values] or {uniform: [lo, hi]} (random)
    search: Literal["grid", "random"] = "grid"
    num_samples: int = 4  # random search: parameter samples (each run with every seed)
    search_seed: int = 0  # random search: seed of the sampler
    seeds: list[int] = field(default_factory=lambda: [0])
    seed_key: str = ""  # the runner key the seed goes to ("" = discovery: seed, lifelong: seed_base)
    metric: str = ""  # the metric to rank by ("" = discovery: object_coverage, lifelong: auc)
    mode: Literal["max", "min"] = "max"
    report: list[str] = field(default_factory=list)  # metrics in the table ([] = the runner's)
    cpus_per_trial: float = 1.0
    max_concurrent: int = 0  # 0 = as many as the CPUs allow
    max_failures: int = 3  # restarts of a trial whose worker died (Tune FailureConfig)
    address: str | None = None  # Ray cluster address (auto, HOST:PORT, ray://HOST:10001); null: local Ray
    num_cpus: int | None = None  # local Ray only: CPUs to use (null: all)
    runtime_env: dict[str, Any] = field(default_factory=dict)  # Ray runtime_env for the workers (docs/dist.md)
    storage: str = "runs/sweeps"
    name: str = "sweep"
    resume: str | None = None  # a sweep folder to continue (unfinished and errored trials)
    progress: bool = True
    debug: bool = False  # tiny: the runner's debug mode, at most 2 trials, 1 seed


# ------------------------------------------------------------------------------------------------ runners
@dataclass(frozen=True)
class Runner:
    """How a sweep drives one kind of run. Functions, not methods, so a runner pickles to a Ray worker."""

    name: str
    config_cls: Callable[[], type]
    seed_key: str
    metric: str
    report: tuple[str, ...]
    run: Callable[[Any], dict[str, Any]]  # cfg -> summary (the runner's own function)
    with_trial: Callable[[Any, Path, Path | None], Any]  # (cfg, run_root, resume run folder or None) -> cfg
    find_resumable: Callable[[Path], tuple[Path, int] | None]  # run_root -> (run folder, progress) or None
    metrics: Callable[[dict[str, Any]], dict[str, float]]  # summary -> flat scalars
    known_metrics: tuple[str, ...] = ()  # what ``metrics`` returns (``return_<term>``: any reward term)
    debug: Callable[[dict[str, Any]], dict[str, Any]] = lambda fixed: {**fixed, "debug": True}
    prepare: Callable[[dict[str, Any], bool], dict[str, Any]] = lambda base, progress: base  # on the driver


RUNNERS: Registry[Runner] = Registry("sweep runner")


def _discovery_cls() -> type:
    from skill_rl.discovery.train import DiscoveryConfig

    return DiscoveryConfig


def _discovery_run(cfg: Any) -> dict[str, Any]:
    from skill_rl.discovery.train import run_discovery

    return run_discovery(cfg, progress=False)


def _discovery_with_trial(cfg: Any, run_root: Path, resume: Path | None) -> Any:
    return dataclasses.replace(cfg, run_root=str(run_root), resume=str(resume) if resume else None)


def _discovery_find(run_root: Path) -> tuple[Path, int] | None:
    """The trial's run folder with the latest checkpoint, and that checkpoint's env step."""
    from skill_rl.discovery.train import CKPT_RE, find_checkpoints

    best: tuple[Path, int] | None = None
    for run in sorted(run_root.glob("*/config.yaml")):
        ckpts = find_checkpoints(run.parent / "ckpt")
        if ckpts:
            m = CKPT_RE.match(ckpts[-1].name)
            step = int(m.group(1)) if m else 0
            if best is None or step > best[1]:
                best = (run.parent, step)
    return best


def _discovery_metrics(summary: dict[str, Any]) -> dict[str, float]:
    out = {k: float(v) for k, v in summary.get("eval", {}).items()}
    out.update({f"return_{t}": float(v) for t, v in summary.get("episode_returns", {}).items()})
    out["num_timesteps"] = float(summary["num_timesteps"])
    out["elapsed_s"] = float(summary.get("elapsed_s", math.nan))
    return out


RUNNERS.add("discovery", Runner(
    name="discovery", config_cls=_discovery_cls, seed_key="seed", metric="object_coverage",
    report=("object_coverage", "skill_classifier_accuracy", "skill_distinctness", "safety_violation_rate",
            "mean_object_displacement", "grasp_consistency", "elapsed_s"),
    run=_discovery_run, with_trial=_discovery_with_trial, find_resumable=_discovery_find,
    metrics=_discovery_metrics, known_metrics=(
        "object_coverage", "skill_distinctness", "distinct_end_cells", "skill_classifier_accuracy",
        "skill_classifier_chance", "safety_violation_rate", "episodes_with_violation", "mean_object_displacement",
        "grasp_consistency", "num_timesteps", "elapsed_s", "return_<term>"), debug=lambda fixed: {**fixed, "debug": True, "video": False}))


def _lifelong_cls() -> type:
    from skill_rl.lifelong.protocol import LifelongConfig

    return LifelongConfig


def _lifelong_run(cfg: Any) -> dict[str, Any]:
    from skill_rl.lifelong.protocol import run_lifelong

    return run_lifelong(cfg)


def _lifelong_with_trial(cfg: Any, run_root: Path, resume: Path | None) -> Any:
    return dataclasses.replace(cfg, run_root=str(run_root), resume=str(resume) if resume else "", progress=False)


def _lifelong_find(run_root: Path) -> tuple[Path, int] | None:
    """The trial's run folder (any: run_lifelong resumes each seed after its last finished task) and the
    number of seed checkpoints in it."""
    runs = sorted(p.parent for p in run_root.glob("*/config.yaml"))
    if not runs:
        return None
    return runs[-1], len(list((runs[-1] / "ckpt").glob("seed*.pt")))


def _lifelong_metrics(summary: dict[str, Any]) -> dict[str, float]:
    agg = summary.get("aggregate", {})
    out = {}
    for key in ("fwt", "nbt", "auc", "final_success"):
        v = agg.get(key, {}).get("mean")
        out[key] = math.nan if v is None else float(v)
    out["wall_s"] = float(summary.get("wall_s", math.nan))
    return out


def _lifelong_prepare(base: dict[str, Any], progress: bool) -> dict[str, Any]:
    """Paths made absolute (trials run in other folders), demos made once here rather than in every trial."""
    base = dict(base)
    for key in ("suite_root", "demos_dir"):
        if base.get(key):
            base[key] = str(Path(base[key]).resolve())
    if base.get("debug"):
        return base  # debug runs make their few demos inside their own run folder
    from skill_rl.lifelong.demos import generate_demos
    from skill_rl.lifelong.suites import get_suite

    suite = get_suite(base["suite"], base.get("suite_root") or None)
    if base.get("task_order"):
        suite = suite.reordered(base["task_order"])
    suite = suite.subset(base.get("n_tasks", 0))
    if not base.get("demos_dir"):
        base["demos_dir"] = str((Path(base.get("run_root", "runs")) / "lifelong-demos" / suite.name).resolve())
    if base.get("make_demos", True):
        generate_demos(suite, base["demos_dir"], base["n_demos"], max_steps=base["demo_max_steps"],
                       progress=progress, action_noise=base["demo_noise"])
    return base


RUNNERS.add("lifelong", Runner(
    name="lifelong", config_cls=_lifelong_cls, seed_key="seed_base", metric="auc",
    report=("fwt", "nbt", "auc", "final_success", "wall_s"), run=_lifelong_run, with_trial=_lifelong_with_trial,
    find_resumable=_lifelong_find, metrics=_lifelong_metrics, prepare=_lifelong_prepare,
    known_metrics=("fwt", "nbt", "auc", "final_success", "wall_s")))


# ------------------------------------------------------------------------------------------------ configs
def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    if not all(parts):
        raise ConfigError(f"bad key {key!r}: use name or section.name")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {key!r}: {'.'.join(parts[: i + 1])!r} is not a section")
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def build_config(runner: Runner, base: Mapping[str, Any], values: Mapping[str, Any]) -> Any:
    """The runner's config: ``base`` (plain data) with each dotted ``key -> value`` set, checked by
    :func:`skill_rl.config.config_from_dict` (unknown keys and wrong types are a ``ConfigError``)."""
    data = copy.deepcopy(dict(base))
    for key, value in values.items():
        _set_dotted(data, key, value)
    return config_from_dict(runner.config_cls(), data)


def _domain(key: str, spec: Any) -> Any:
    """A Tune search domain from ``{uniform: [lo, hi]}`` etc.; a list is a choice."""
    from ray import tune

    if isinstance(spec, list | tuple):
        return tune.choice(list(spec))
    if not (isinstance(spec, Mapping) and len(spec) == 1):
        raise SweepError(f"params.{key}: expected a list of values or one of {{{', '.join(DISTRIBUTIONS)}: ...}}, "
                         f"got {spec!r}")
    (kind, args), = spec.items()
    if kind not in DISTRIBUTIONS:
        raise SweepError(f"params.{key}: unknown distribution {kind!r}; available: {', '.join(DISTRIBUTIONS)}")
    args = list(args) if isinstance(args, list | tuple) else [args]
    if kind == "choice":
        return tune.choice(args)
    want = 3 if kind == "quniform" else 2
    if len(args) != want or not all(isinstance(a, int | float) and not isinstance(a, bool) for a in args):
        raise SweepError(f"params.{key}: {kind} needs {want} numbers, got {args!r}")
    return getattr(tune, kind)(*args)


def _grid(cfg: SweepConfig) -> list[dict[str, Any]]:
    """Every parameter combination of the sweep (seeds aside), in Tune's grid order (last key fastest)."""
    import itertools

    if cfg.search == "random":
        rng = np.random.RandomState(cfg.search_seed)
        domains = {k: _domain(k, v) for k, v in cfg.params.items()}
        samples = [{k: _plain(d.sample(random_state=rng)) for k, d in domains.items()} for _ in range(cfg.num_samples)]
        return samples if domains else [{}]
    for key, values in cfg.params.items():
        if not isinstance(values, list | tuple) or not values:
            raise SweepError(f"params.{key}: a grid search needs a non-empty list of values, got {values!r} "
                             "(distributions need search: random)")
    keys = list(cfg.params)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(cfg.params[k] for k in keys))]


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _debug(cfg: SweepConfig, runner: Runner) -> SweepConfig:
    """At most 2 trials: the first two values of the first swept key (or two seeds), one seed."""
    params = {k: (list(v)[: 2 if i == 0 else 1] if isinstance(v, list | tuple) else v)
              for i, (k, v) in enumerate(cfg.params.items())}
    seeds = cfg.seeds[:1] if params and (cfg.search == "random" or len(next(iter(params.values()))) > 1) else cfg.seeds[:2]
    return dataclasses.replace(cfg, fixed=runner.debug(dict(cfg.fixed)), params=params, seeds=seeds,
                               num_samples=min(cfg.num_samples, 2))


def load_sweep_config(path: str | Path | None, overrides: list[str] | None = None) -> SweepConfig:
    """:class:`SweepConfig` from ``path`` + ``key=value`` overrides, with a relative ``base_config`` resolved
    against the working directory, else against the sweep file's folder (so ``configs/sweeps/x.yaml`` can say
    ``base_config: ../slim_push.yaml`` and run from anywhere); stored absolute, so ``--resume`` finds it."""
    cfg = load_config(SweepConfig, path, overrides or [])
    if not cfg.base_config:
        return cfg
    base = Path(cfg.base_config).expanduser()
    candidates = [base] if base.is_absolute() else [Path.cwd() / base, *([Path(path).parent / base] if path else [])]
    for c in candidates:
        if c.is_file():
            return dataclasses.replace(cfg, base_config=str(c.resolve()))
    raise SweepError(f"base_config {cfg.base_config!r} not found (looked for {', '.join(str(c) for c in candidates)})")


def trial_configs(cfg: SweepConfig) -> tuple[Runner, dict[str, Any], list[dict[str, Any]], str]:
    """Check the sweep and every trial's runner config on the driver (before Ray starts): the runner, the
    base config as plain data, the parameter combinations and the seed key. Errors name the key."""
    runner = RUNNERS.get(cfg.runner)
    seed_key = cfg.seed_key or runner.seed_key
    if not cfg.seeds:
        raise SweepError("seeds is empty: give at least one seed")
    if len(set(cfg.seeds)) != len(cfg.seeds):
        raise SweepError(f"seeds lists a seed twice: {cfg.seeds}")
    if seed_key in cfg.params:
        raise SweepError(f"params.{seed_key}: the seed is swept by `seeds`, not by params")
    if cfg.num_samples < 1 or cfg.cpus_per_trial <= 0 or cfg.max_failures < 0:
        raise SweepError("num_samples must be >= 1, cpus_per_trial > 0 and max_failures >= 0")
    check_address(cfg.address)
    for m in [cfg.metric, *cfg.report]:
        if m and m not in runner.known_metrics and not ("return_<term>" in runner.known_metrics and m.startswith("return_")):
            raise SweepError(f"unknown {runner.name} metric {m!r}; available: {', '.join(runner.known_metrics)}")
    cls = runner.config_cls()
    try:
        base_cfg = load_config(cls, cfg.base_config) if cfg.base_config else cls()
        base = config_to_dict(build_config(runner, config_to_dict(base_cfg), dict(cfg.fixed)))
    except ConfigError as exc:
        raise ConfigError(f"sweep fixed: {exc}") from None
    grid = _grid(cfg)
    if not grid:
        raise SweepError("the sweep has no trials (an empty params list?)")
    for values in grid:
        for seed in cfg.seeds:
            try:
                build_config(runner, base, {**values, seed_key: seed})
            except ConfigError as exc:
                raise ConfigError(f"sweep params {values}: {exc}") from None
    return runner, base, grid, seed_key


# ------------------------------------------------------------------------------------------------ the trial
def _append_line(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:  # one short line per start: appends do not interleave
        f.write(json.dumps(to_jsonable(record)) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_attempts(trial_root: str | Path) -> list[dict[str, Any]]:
    """The trial's starts (``attempts.jsonl``): ``attempt``, ``pid``, ``node``, ``resumed_run``,
    ``resumed_from_step`` (discovery: env step of the checkpoint resumed; lifelong: seed checkpoints)."""
    path = Path(trial_root) / "attempts.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _trial(config: dict[str, Any], spec: dict[str, Any]) -> None:
    """One Tune trial: build the run config, resume the trial's run folder if a previous attempt left one,
    run, report the run's metrics to Tune and to ``trial.json``."""
    from ray import tune

    runner = RUNNERS.get(spec["runner"])
    trial_id = tune.get_context().get_trial_id()
    root = Path(spec["sweep_dir"]) / "trials" / trial_id
    root.mkdir(parents=True, exist_ok=True)
    values = {**config["params"], spec["seed_key"]: config["seed"]}
    found = runner.find_resumable(root)
    resume, step = found if found else (None, 0)
    attempt = len(read_attempts(root)) + 1
    _append_line(root / "attempts.jsonl", {"attempt": attempt, "pid": os.getpid(), "node": socket.gethostname(),
                                           "resumed_run": str(resume) if resume else None,
                                           "resumed_from_step": step, "time": time.time()})
    try:
        import torch

        torch.set_num_threads(max(1, int(spec["cpus_per_trial"])))
    except ImportError:  # pragma: no cover - both runners need torch
        pass
    cfg = runner.with_trial(build_config(runner, spec["base"], values), root, resume)
    summary = runner.run(cfg)
    metrics = runner.metrics(summary)
    record = {"trial_id": trial_id, "params": config["params"], "seed": config["seed"], "run_dir": summary["run_dir"],
              "attempts": attempt, "metrics": metrics}
    atomic_write_text(root / "trial.json", json.dumps(to_jsonable(record), indent=2) + "\n")
    tune.report({**{k: v for k, v in metrics.items() if math.isfinite(v)}, "attempts": attempt})


# ------------------------------------------------------------------------------------------------ aggregation
def _label(params: Mapping[str, Any]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k}={fmt(v)}" for k, v in params.items()) or "(base)"


def aggregate_trials(trials: list[dict[str, Any]], metrics: list[str]) -> list[dict[str, Any]]:
    """One group per parameter combination (trials' ``params`` equal), in first-seen order: ``n`` finished
    seeds, ``failed`` trials, and per metric ``{mean, std, values}`` over the finished seeds (std: the sample
    std, ddof=1, as every results table here; 0 for one seed)."""
    groups: dict[str, dict[str, Any]] = {}
    for t in trials:
        key = json.dumps(to_jsonable(t["params"]), sort_keys=True)
        g = groups.setdefault(key, {"params": t["params"], "label": _label(t["params"]), "seeds": [], "n": 0,
                                    "failed": 0, "restarts": 0, "metrics": {m: [] for m in metrics}})
        g["restarts"] += max(0, int(t.get("attempts") or 1) - 1)
        if t["status"] != "ok":
            g["failed"] += 1
            continue
        g["n"] += 1
        g["seeds"].append(t["seed"])
        for m in metrics:
            v = t["metrics"].get(m)
            if v is not None and math.isfinite(v):
                g["metrics"][m].append(float(v))
    out = []
    for g in groups.values():
        g["metrics"] = {m: {"mean": float(np.mean(v)) if v else math.nan, "std": (float(np.std(v, ddof=1)) if len(v) > 1 else 0.0) if v else math.nan,
                            "values": v} for m, v in g["metrics"].items()}
        out.append(g)
    return out


def _fmt(stat: Mapping[str, Any]) -> str:
    if not stat["values"]:
        return "-"
    return f"{stat['mean']:.3g}" + (f" ± {stat['std']:.2g}" if len(stat["values"]) > 1 else "")


def results_markdown(cfg: SweepConfig, groups: list[dict[str, Any]], trials: list[dict[str, Any]], metric: str,
                     metrics: list[str], best: dict[str, Any] | None) -> str:
    lines = [f"# sweep {cfg.name}: {cfg.runner}, {cfg.search} search, {len(trials)} trials "
             f"({len(groups)} combinations x {len(cfg.seeds)} seeds)", "",
             f"Mean ± std over seeds; ranked by `{metric}` ({cfg.mode}).", "",
             "| params | seeds | " + " | ".join(metrics) + " | failed | restarts |",
             "|---|---|" + "---|" * len(metrics) + "---|---|"]
    for g in groups:
        lines.append(f"| {g['label']} | {g['n']} | " + " | ".join(_fmt(g["metrics"][m]) for m in metrics)
                     + f" | {g['failed']} | {g['restarts']} |")
    if best is not None:
        lines += ["", f"Best: **{best['label']}** ({metric} {_fmt(best['metrics'][metric])})."]
    lines += ["", "## Trials", "", "| trial | params | seed | status | attempts | " + metric + " | run folder |",
              "|---|---|---|---|---|---|---|"]
    for t in trials:
        v = t["metrics"].get(metric)
        lines.append(f"| {t['trial_id']} | {_label(t['params'])} | {t['seed']} | {t['status']} | {t['attempts']} | "
                     f"{'-' if v is None else f'{v:.3g}'} | {t['run_dir'] or '-'} |")
    return "\n".join(lines) + "\n"


def _csv_text(trials: list[dict[str, Any]], metrics: list[str]) -> str:
    keys = sorted({k for t in trials for k in t["params"]})
    extra = sorted({k for t in trials for k in t["metrics"]} - set(metrics))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["trial_id", *keys, "seed", "status", "attempts", "resumed_from_step", *metrics, *extra, "run_dir"])
    for t in trials:
        w.writerow([t["trial_id"], *(t["params"].get(k, "") for k in keys), t["seed"], t["status"], t["attempts"],
                    ";".join(str(s) for s in t["resumed_from_step"]),
                    *(t["metrics"].get(m, "") for m in [*metrics, *extra]), t["run_dir"] or ""])
    return buf.getvalue()


def plot_sweep(groups: list[dict[str, Any]], metric: str, path: Path, title: str) -> Path:
    """Bars: the metric's mean per combination (± std); dots: the seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(groups) + 2), 3.6))
    x = np.arange(len(groups))
    means = [g["metrics"][metric]["mean"] for g in groups]
    stds = [g["metrics"][metric]["std"] if len(g["metrics"][metric]["values"]) > 1 else 0.0 for g in groups]
    ax.bar(x, np.nan_to_num(means), yerr=stds, color="#8fb3d9", edgecolor="#33557a", capsize=4)
    for i, g in enumerate(groups):
        vals = g["metrics"][metric]["values"]
        ax.scatter(np.full(len(vals), i) + np.linspace(-0.15, 0.15, len(vals)) if len(vals) > 1 else [i] * len(vals),
                   vals, color="#1d3557", s=14, zorder=3)
    ax.set_xticks(x, [g["label"].replace(", ", "\n") for g in groups], fontsize=7)
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    from skill_rl.fileio import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------ the sweep
def _param_space(cfg: SweepConfig, grid: list[dict[str, Any]]) -> dict[str, Any]:
    from ray import tune

    if cfg.search == "grid" and cfg.params:
        params: Any = {k: tune.grid_search(list(v)) for k, v in cfg.params.items()}
    else:  # random: the samples drawn on the driver, each run with every seed
        params = tune.grid_search(grid)
    return {"params": params, "seed": tune.grid_search(list(cfg.seeds))}


def run_sweep(cfg: SweepConfig) -> dict[str, Any]:
    """Run the sweep on Ray Tune (local embedded Ray, the Ray this process is connected to, or
    ``cfg.address``); aggregate into ``results.md|csv|json`` and ``plots/sweep.png``; return the summary."""
    if cfg.resume:
        sweep_dir = Path(cfg.resume).resolve()
        if not (sweep_dir / "config.yaml").is_file() or not (sweep_dir / "tune").is_dir():
            raise SweepError(f"cannot resume: {sweep_dir} is not a sweep folder (no config.yaml and tune/)")
        cfg = dataclasses.replace(load_config(SweepConfig, sweep_dir / "config.yaml"), address=cfg.address,
                                  num_cpus=cfg.num_cpus, progress=cfg.progress, resume=str(sweep_dir))
    runner = RUNNERS.get(cfg.runner)
    if cfg.debug and not cfg.resume:
        cfg = _debug(cfg, runner)
    runner, base, grid, seed_key = trial_configs(cfg)
    metric = cfg.metric or runner.metric
    report = list(cfg.report or runner.report)
    if metric not in report:
        report.insert(0, metric)
    t0 = time.perf_counter()
    with ray_session(cfg.address, num_cpus=cfg.num_cpus, runtime_env=cfg.runtime_env) as ray:
        if cfg.resume:  # connected: only now make the folder, so a bad address leaves nothing behind
            run = RunDir(sweep_dir, tensorboard=False)
        else:
            run = start_run(cfg.storage, cfg.name, cfg, tensorboard=False)
            sweep_dir = run.path.resolve()
        base = runner.prepare(base, cfg.progress)
        spec = {"runner": runner.name, "base": base, "seed_key": seed_key, "sweep_dir": str(sweep_dir),
                "cpus_per_trial": cfg.cpus_per_trial}
        results = _fit(cfg, spec, grid, sweep_dir)
        cluster_cpus = ray.cluster_resources().get("CPU", 0)
    trials = []
    for r in results:
        trial_id = Path(r.path).name
        rec_path = sweep_dir / "trials" / trial_id / "trial.json"
        rec = json.loads(rec_path.read_text(encoding="utf-8")) if rec_path.is_file() else {}
        attempts = read_attempts(sweep_dir / "trials" / trial_id)
        trials.append({"trial_id": trial_id, "params": r.config["params"], "seed": r.config["seed"],
                       "status": "ok" if r.error is None and rec else f"error: {_one_line(r.error)}",
                       "attempts": len(attempts), "resumed_from_step": [a["resumed_from_step"] for a in attempts],
                       "run_dir": rec.get("run_dir"), "metrics": rec.get("metrics", {})})
    trials.sort(key=lambda t: t["trial_id"])
    groups = aggregate_trials(trials, report)
    finished = [g for g in groups if g["metrics"][metric]["values"]]
    best = (max if cfg.mode == "max" else min)(finished, key=lambda g: g["metrics"][metric]["mean"]) if finished else None
    table = results_markdown(cfg, groups, trials, metric, report, best)
    atomic_write_text(sweep_dir / "results.md", table)
    atomic_write_text(sweep_dir / "results.csv", _csv_text(trials, report))
    atomic_write_text(sweep_dir / "results.json", json.dumps(to_jsonable(
        {"sweep": cfg, "metric": metric, "mode": cfg.mode, "trials": trials, "groups": groups,
         "best": best["params"] if best else None}), indent=2) + "\n")
    plot = plot_sweep(groups, metric, sweep_dir / "plots" / "sweep.png",
                      f"{cfg.name}: {metric} by parameters ({len(cfg.seeds)} seeds)")
    summary = {"sweep_dir": str(sweep_dir), "runner": runner.name, "n_trials": len(trials),
               "n_failed": sum(t["status"] != "ok" for t in trials),
               "restarts": sum(max(0, t["attempts"] - 1) for t in trials), "metric": metric,
               "best": best["params"] if best else None, "table": table, "results": str(sweep_dir / "results.md"),
               "plot": str(plot), "cluster_cpus": cluster_cpus, "wall_s": round(time.perf_counter() - t0, 2)}
    with run:
        run.write_summary(summary)
    return summary


def _one_line(error: Any) -> str:
    text = str(error).strip().splitlines()
    return (text[-1] if text else type(error).__name__)[:200]


def _fit(cfg: SweepConfig, spec: dict[str, Any], grid: list[dict[str, Any]], sweep_dir: Path) -> Any:
    from ray import tune

    trainable = tune.with_resources(tune.with_parameters(_trial, spec=spec), {"cpu": cfg.cpus_per_trial})
    tune_dir = sweep_dir / "tune"
    if cfg.resume and tune.Tuner.can_restore(str(tune_dir)):
        tuner = tune.Tuner.restore(str(tune_dir), trainable, resume_unfinished=True, resume_errored=True)
    else:
        tuner = tune.Tuner(
            trainable, param_space=_param_space(cfg, grid),
            # no metric/mode for Tune: we rank ourselves, and a trial whose metric is NaN must not fail
            tune_config=tune.TuneConfig(num_samples=1,
                                        max_concurrent_trials=cfg.max_concurrent or None,
                                        trial_dirname_creator=lambda trial: trial.trial_id),
            run_config=tune.RunConfig(name="tune", storage_path=str(sweep_dir),
                                      failure_config=tune.FailureConfig(max_failures=cfg.max_failures),
                                      verbose=1 if cfg.progress else 0))
    results = tuner.fit()
    return [results[i] for i in range(len(results))]
