"""LIBERO's lifelong protocol: learn K tasks in sequence, evaluate, keep the earliest best checkpoint.

For each seed and each task k (in suite order): train ``epochs`` epochs on task k's ``n_demos`` demos
(an epoch = one pass over its samples), evaluate the current task at epoch 0 and every ``eval_every``
epochs (``c[k, k, e]``), keep the checkpoint of the earliest best evaluation, load it, run the algorithm's
``end_task`` (ER memory, EWC Fisher, PackNet prune), then evaluate every task seen so far with it
(``c[k, j]``). Multitask trains once on all tasks and is evaluated at the end (LIBERO reports only its
success). Metrics: :mod:`skill_rl.lifelong.metrics` (Eq. 3) per seed, mean and standard error over seeds.

LIBERO's defaults are this config's defaults (50 epochs, eval every 5, 20 rollouts of <= 600 steps,
3 seeds 100/200/300, batch 32, AdamW with a cosine schedule per task); ``debug`` shrinks everything so the
whole pipeline runs in seconds.

Run folder: ``config.yaml``, ``metrics.csv`` + ``tb/`` (``seed<s>/task<k>/success`` and ``/loss``),
``ckpt/seed<s>.pt`` (after every task, atomic: resume continues with the next task), ``results.json``
(per seed: success tensor pieces and metrics), ``results.md`` (the table), ``plots/success_matrix.png``,
``plots/curves.png`` and ``summary.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skill_rl.errors import UserError
from skill_rl.fileio import atomic_path, atomic_write_text
from skill_rl.runs import RunDir, start_run, to_jsonable

from .demos import generate_demos, load_task_data, suite_schema
from .metrics import aggregate, metrics_from_curves
from .suites import get_suite

__all__ = ["LifelongConfig", "LifelongError", "replot_run", "results_table", "run_lifelong"]


class LifelongError(UserError, ValueError):
    """A lifelong run cannot start with this config."""


@dataclass
class LifelongConfig:
    """Settings of ``skill-rl lifelong run`` (``configs/lifelong.yaml`` writes them out)."""

    suite: str = "tabletop-object"
    suite_root: str = ""  # a folder of *.task files instead of tasks/suites/<suite>/
    algo: str = "er"  # seql | er | ewc | packnet | multitask
    seeds: int = 3  # seeds seed_base * 1, * 2, ... (LIBERO: 100, 200, 300)
    seed_base: int = 100
    n_tasks: int = 0  # learn only the first n tasks (0 = all)
    task_order: list[int] = field(default_factory=list)  # a permutation of the suite's tasks ([] = suite order)
    n_demos: int = 50  # demos per task
    demos_dir: str = ""  # "" = runs/lifelong-demos/<suite>
    make_demos: bool = True  # generate missing demos with the scripted demonstrator
    demo_max_steps: int = 600
    demo_noise: float = 0.1  # DART-style noise on the demonstrator's executed actions (recorded ones stay clean)
    epochs: int = 50
    eval_every: int = 5
    eval_rollouts: int = 20
    max_steps: int = 600  # rollout horizon
    batch_size: int = 32
    encoder: str = "mlp"  # mlp | transformer (cnn needs image demos: not in this protocol)
    head: str = "gaussian"  # gaussian | gmm (LIBERO's; its most-likely-mode action fails here, docs/lifelong.md)
    n_modes: int = 5
    history: int = 2  # observation frames per decision (LIBERO: 10 for the transformer); 2 shows motion
    hidden: int = 256
    layers: int = 2
    task_embedding: str = "text"  # text (hashed bag of words) | id
    lr: float = 1e-3
    lr_min: float = 1e-4
    weight_decay: float = 1e-4
    grad_clip: float = 100.0
    n_memories: int = 1000  # er
    ewc_lambda: float = 5e4  # ewc
    ewc_gamma: float = 0.9
    keep_frac: float = 0.25  # packnet
    post_prune_epochs: int = 50  # packnet (LIBERO: 50)
    workers: int = 1  # parallel evaluation of seen tasks (processes, or Ray with eval_backend=ray)
    eval_backend: str = "process"
    threads: int = 1  # torch CPU threads
    run_root: str = "runs"
    run_name: str = ""  # "" = lifelong-<suite>-<algo>
    resume: str = ""  # a run folder: continue its seeds from their last finished task (its config is used)
    progress: bool = True
    debug: bool = False  # tiny: 2 tasks, 3 demos, 2 epochs, 2 rollouts of 100 steps, 1 seed, small nets

    def __post_init__(self) -> None:
        from .algos import ALGOS

        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {', '.join(ALGOS.names())}, got {self.algo!r}")
        for key in ("seeds", "epochs", "eval_every", "eval_rollouts", "max_steps", "batch_size", "n_demos"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1")
        if self.epochs % self.eval_every:
            raise ValueError(f"epochs ({self.epochs}) must be a multiple of eval_every ({self.eval_every})")


def _debug(cfg: LifelongConfig) -> LifelongConfig:
    return dataclasses.replace(
        cfg, n_tasks=min(cfg.n_tasks, 2) if cfg.n_tasks > 0 else 2, n_demos=min(cfg.n_demos, 3), seeds=1,
        epochs=2, eval_every=1, eval_rollouts=2, max_steps=min(cfg.max_steps, 100),
        demo_max_steps=min(cfg.demo_max_steps, 200), hidden=32, n_modes=2, n_memories=min(cfg.n_memories, 50),
        post_prune_epochs=1, batch_size=min(cfg.batch_size, 32))


def _policy_config(cfg: LifelongConfig, obs_dim: int, act_dim: int, n_tasks: int) -> Any:
    from .policies import PolicyConfig

    return PolicyConfig(obs_dim=obs_dim, act_dim=act_dim, history=cfg.history, encoder=cfg.encoder,
                        task_embedding=cfg.task_embedding, max_tasks=max(16, n_tasks), hidden=cfg.hidden,
                        layers=cfg.layers, head=cfg.head, n_modes=cfg.n_modes)


def _algo_config(cfg: LifelongConfig, steps_per_epoch: int) -> Any:
    from .algos import AlgoConfig

    return AlgoConfig(lr=cfg.lr, lr_min=cfg.lr_min, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip,
                      n_memories=cfg.n_memories, ewc_lambda=cfg.ewc_lambda, ewc_gamma=cfg.ewc_gamma,
                      keep_frac=cfg.keep_frac, post_prune_steps=cfg.post_prune_epochs * steps_per_epoch,
                      batch_size=cfg.batch_size)


def _save_ckpt(path: Path, state: dict[str, Any]) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _run_seed(cfg: LifelongConfig, seed: int, suite: Any, demos_dir: Path, schema: Any, run: RunDir,
              evaluator: Any, progress: bool) -> dict[str, Any]:
    """One seed of the protocol; resumes from ``ckpt/seed<seed>.pt`` if present."""
    import torch
    from tqdm.auto import tqdm

    from .algos import TaskData, make_algo
    from .policies import TaskPolicy, text_features

    k_tasks = len(suite)
    ckpt_path = run.subdir("ckpt") / f"seed{seed}.pt"
    torch.manual_seed(seed)
    first = load_task_data(suite, demos_dir, 0, schema, cfg.history, 128, cfg.n_demos)
    policy = TaskPolicy(_policy_config(cfg, schema.dim, first.actions.shape[1], k_tasks))
    policy.set_normaliser(first.obs.mean(0), first.obs.std(0))  # task 0 only: no peeking at later tasks
    algo = make_algo(cfg.algo, policy, _algo_config(cfg, math.ceil(len(first) / cfg.batch_size)), seed)
    n_evals = cfg.epochs // cfg.eval_every + 1
    state: dict[str, Any] = {"next_task": 0, "curves": np.full((k_tasks, n_evals), np.nan),
                             "conf": np.full((k_tasks, k_tasks), np.nan), "losses": [], "train_s": 0.0,
                             "eval_s": 0.0}
    if ckpt_path.exists():
        saved = torch.load(ckpt_path, weights_only=False)
        algo.load_state_dict(saved["algo"])
        state = saved["state"]
    texts = [text_features(t.language, 128) for t in suite.tasks]

    def eval_tasks(ids: list[int]) -> list[float]:
        t0 = time.perf_counter()
        out = evaluator.evaluate(algo, [(j, suite.tasks[j].factory, texts[j]) for j in ids])
        state["eval_s"] += time.perf_counter() - t0
        return out

    def train_epochs(data: Any, k: int, epoch0: int, n: int, bar: Any) -> None:
        spe = math.ceil(len(data) / cfg.batch_size)
        t0 = time.perf_counter()
        for e in range(epoch0 + 1, epoch0 + n + 1):
            losses = [algo.observe(algo.sample(data, cfg.batch_size)) for _ in range(spe)]
            run.metrics.log({f"seed{seed}/task{k}/loss": float(np.mean(losses))}, step=e)
            state["losses"].append((k, e, float(np.mean(losses))))
            bar.update(1)
        state["train_s"] += time.perf_counter() - t0

    bar = tqdm(total=(1 if algo.joint else k_tasks) * cfg.epochs, desc=f"{cfg.algo} seed {seed}", unit="epoch",
               disable=not progress, initial=state["next_task"] * cfg.epochs)
    if algo.joint:  # multitask: all tasks at once, evaluated at the end
        if state["next_task"] == 0:
            parts = [first] + [load_task_data(suite, demos_dir, j, schema, cfg.history, 128, cfg.n_demos)
                               for j in range(1, k_tasks)]
            data = TaskData.concat(parts)
            spe = math.ceil(len(data) / cfg.batch_size)
            algo.start_task(0, data, cfg.epochs * spe)
            train_epochs(data, 0, 0, cfg.epochs, bar)
            state["conf"][-1] = eval_tasks(list(range(k_tasks)))
            state["next_task"] = k_tasks
            _save_ckpt(ckpt_path, {"algo": algo.state_dict(), "state": state})
        bar.close()
        final = state["conf"][-1]
        return {"seed": seed, "algo": cfg.algo, "final_success": float(np.mean(final)),
                "success_per_task": final.tolist(), "fwt": None, "nbt": None, "auc": None,
                "train_s": state["train_s"], "eval_s": state["eval_s"]}
    for k in range(state["next_task"], k_tasks):
        data = first if k == 0 else load_task_data(suite, demos_dir, k, schema, cfg.history, 128, cfg.n_demos)
        spe = math.ceil(len(data) / cfg.batch_size)
        algo.start_task(k, data, cfg.epochs * spe)
        curve = [eval_tasks([k])[0]]
        run.metrics.log({f"seed{seed}/task{k}/success": curve[0]}, step=0)
        best, best_state = curve[0], {n: v.detach().clone() for n, v in policy.state_dict().items()}
        for e0 in range(0, cfg.epochs, cfg.eval_every):
            train_epochs(data, k, e0, cfg.eval_every, bar)
            s = eval_tasks([k])[0]
            curve.append(s)
            run.metrics.log({f"seed{seed}/task{k}/success": s}, step=e0 + cfg.eval_every)
            bar.set_postfix(task=k, success=f"{s:.2f}", best=f"{best:.2f}")
            if s > best:  # strict: the earliest best checkpoint is kept
                best, best_state = s, {n: v.detach().clone() for n, v in policy.state_dict().items()}
        policy.load_state_dict(best_state)
        algo.end_task(k, data)
        state["curves"][k] = curve
        state["conf"][k, : k + 1] = eval_tasks(list(range(k + 1)))
        state["next_task"] = k + 1
        _save_ckpt(ckpt_path, {"algo": algo.state_dict(), "state": state})
    bar.close()
    m = metrics_from_curves(state["curves"], state["conf"])
    return {"seed": seed, "algo": cfg.algo, **m.to_dict(), "conf_measured": state["conf"].tolist(),
            "train_s": state["train_s"], "eval_s": state["eval_s"]}


def _plots(run: RunDir, results: list[dict[str, Any]], cfg: LifelongConfig, task_names: list[str]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    plots = run.subdir("plots")
    k = len(task_names)
    if all(r.get("conf") is not None for r in results):
        with warnings.catch_warnings():  # not-yet-learned tasks are NaN in every seed
            warnings.simplefilter("ignore", RuntimeWarning)
            conf = np.nanmean(np.array([np.array(r["conf"], dtype=float) for r in results]), axis=0)
        title = "success c[i, j] (diagonal: best of the learning curve)"
    else:  # multitask: one row
        conf = np.nanmean(np.array([r["success_per_task"] for r in results], dtype=float), axis=0)[None]
        title = "multitask success per task"
    fig, ax = plt.subplots(figsize=(max(4.8, 1.8 + 0.6 * k), max(3.8, 2.2 + 0.6 * conf.shape[0])))
    im = ax.imshow(np.ma.masked_invalid(conf), vmin=0, vmax=1, cmap="viridis")
    for i in range(conf.shape[0]):
        for j in range(k):
            if np.isfinite(conf[i, j]):
                ax.text(j, i, f"{conf[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if conf[i, j] < 0.5 else "black")
    ax.set_xticks(range(k), task_names, rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("evaluated task j")
    if conf.shape[0] > 1:
        ax.set_yticks(range(conf.shape[0]), [f"{i}: {n}" for i, n in enumerate(task_names)], fontsize=7)
        ax.set_ylabel("after learning task i")
    else:
        ax.set_yticks([0], ["multitask"], fontsize=7)
    ax.set_title(f"{cfg.suite} / {cfg.algo}\n{title}", fontsize=8)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(plots / "success_matrix.png", dpi=120)
    plt.close(fig)
    out["success_matrix"] = str(plots / "success_matrix.png")
    if results and results[0].get("curves") is not None:
        curves = np.array([r["curves"] for r in results], dtype=float)  # seeds x K x E
        epochs = np.arange(curves.shape[2]) * cfg.eval_every
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for j in range(k):
            mean = curves[:, j].mean(0)
            ax.plot(epochs + j * cfg.epochs, mean, marker="o", ms=3, label=task_names[j])
        ax.set_xlabel("epoch (tasks in sequence)")
        ax.set_ylabel("success on the task being learned")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{cfg.suite} / {cfg.algo}: learning curves c[k, k, e]", fontsize=9)
        ax.legend(fontsize=6, ncol=2)
        fig.tight_layout()
        fig.savefig(plots / "curves.png", dpi=120)
        plt.close(fig)
        out["curves"] = str(plots / "curves.png")
    return out


def results_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table: one row per (suite, algo) with FWT/NBT/AUC/final success as mean ± s.e."""
    def fmt(v: dict[str, Any]) -> str:
        if v.get("mean") is None:
            return "-"
        return f"{v['mean']:.2f}" + (f" ± {v['se']:.2f}" if v.get("se") is not None else "")

    lines = ["| suite | algo | seeds | FWT ↑ | NBT ↓ | AUC ↑ | final success ↑ |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        a = r["aggregate"]
        lines.append(f"| {r['suite']} | {r['algo']} | {r['n_seeds']} | {fmt(a['fwt'])} | {fmt(a['nbt'])} | "
                     f"{fmt(a['auc'])} | {fmt(a['final_success'])} |")
    return "\n".join(lines) + "\n"


def run_lifelong(cfg: LifelongConfig) -> dict[str, Any]:
    """Run the protocol as ``cfg`` says; return the summary (also ``<run>/summary.json``)."""
    import torch

    from skill_rl.config import load_config

    from .evaluation import Evaluator

    if cfg.resume:
        run_path = Path(cfg.resume)
        if not (run_path / "config.yaml").is_file():
            raise LifelongError(f"cannot resume: {run_path} is not a lifelong run folder (no config.yaml)")
        progress = cfg.progress
        cfg = dataclasses.replace(load_config(LifelongConfig, run_path / "config.yaml"), progress=progress,
                                  resume=str(run_path))
        run = RunDir(run_path)
    else:
        if cfg.debug:
            cfg = _debug(cfg)
        run = start_run(cfg.run_root, cfg.run_name or f"lifelong-{cfg.suite}-{cfg.algo}", cfg)
    torch.set_num_threads(max(1, cfg.threads))
    t_start = time.perf_counter()
    with run:
        suite = get_suite(cfg.suite, cfg.suite_root or None)
        if cfg.task_order:
            suite = suite.reordered(cfg.task_order)
        suite = suite.subset(cfg.n_tasks)
        if cfg.algo == "multitask" and len(suite) < 1:
            raise LifelongError("multitask needs at least one task")
        demos_dir = Path(cfg.demos_dir) if cfg.demos_dir else (
            run.path / "demos" if cfg.debug else Path(cfg.run_root) / "lifelong-demos" / suite.name)
        demo_stats = None
        if cfg.make_demos:
            demo_stats = generate_demos(suite, demos_dir, cfg.n_demos, max_steps=cfg.demo_max_steps,
                                        progress=cfg.progress, action_noise=cfg.demo_noise)
        schema = suite_schema(suite, demos_dir)
        evaluator = Evaluator(schema, cfg.eval_rollouts, cfg.max_steps, cfg.workers, cfg.eval_backend)
        results = []
        try:
            for i in range(cfg.seeds):
                seed = cfg.seed_base * (i + 1)
                results.append(_run_seed(cfg, seed, suite, demos_dir, schema, run, evaluator, cfg.progress))
        finally:
            evaluator.close()
        agg = aggregate(results)
        names = [t.name for t in suite.tasks]
        row = {"suite": suite.name, "algo": cfg.algo, "n_seeds": len(results), "aggregate": agg}
        table = results_table([row])
        atomic_write_text(run.path / "results.md", table)
        atomic_write_text(run.path / "results.json", json.dumps(
            to_jsonable({"suite": suite.name, "algo": cfg.algo, "tasks": names,
                         "languages": [t.language for t in suite.tasks], "seeds": results, "aggregate": agg}),
            indent=2) + "\n")
        plots = _plots(run, results, cfg, names)
        summary = {"run_dir": str(run.path), "suite": suite.name, "algo": cfg.algo, "tasks": names,
                   "n_tasks": len(suite), "seeds": [r["seed"] for r in results], "aggregate": agg, "table": table,
                   "plots": plots, "demos_dir": str(demos_dir), "demos": demo_stats, "obs_dim": schema.dim,
                   "wall_s": round(time.perf_counter() - t_start, 2),
                   "train_s": round(sum(r["train_s"] for r in results), 2),
                   "eval_s": round(sum(r["eval_s"] for r in results), 2)}
        run.write_summary(summary)
    return summary


def replot_run(run_dir: str | Path) -> dict[str, str]:
    """Redraw a finished run's plots from its ``results.json`` and ``config.yaml`` (no training, no rollouts)."""
    from skill_rl.config import load_config

    run_path = Path(run_dir)
    if not (run_path / "results.json").is_file():
        raise LifelongError(f"{run_path} has no results.json (not a finished lifelong run)")
    cfg = load_config(LifelongConfig, run_path / "config.yaml")
    res = json.loads((run_path / "results.json").read_text(encoding="utf-8"))
    return _plots(RunDir(run_path, tensorboard=False), res["seeds"], cfg, res["tasks"])
