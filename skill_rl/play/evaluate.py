"""Goal-reaching evaluation on the named play tasks: ``skill-rl play eval lmp=<policy.pt> gcbc=<policy.pt>``.

For every task in :data:`skill_rl.play.tasks.TASKS` the same ``episodes`` starts and goal observations
(scripted successes) are given to every policy; each runs closed-loop, re-planning every ``replan_every``
steps (20 = 1 s at 20 Hz, the paper's ~1 Hz), and succeeds when the task's predicate holds. The run folder
gets ``results.csv`` (one row per policy and task), ``results.md`` (a markdown table with the average),
``plots/success.png`` (grouped bar plot), ``videos/<policy>_<task>.mp4`` and ``summary.json``.
"""

from __future__ import annotations

import csv
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skill_rl.errors import UserError
from skill_rl.runs import start_run

from .tasks import MOVED_M, REACHED_M, TASKS, PlayTask, TaskEpisode, make_play_env, rollout, sample_episodes

__all__ = ["PlayTaskEvalConfig", "eval_tasks", "evaluate_policies", "markdown_table"]


class PlayEvalError(UserError, ValueError):
    """The evaluation cannot run with this config (no policy, unknown task, a policy for another scene...)."""


@dataclass
class PlayTaskEvalConfig:
    """Settings of ``skill-rl play eval`` (``configs/play_eval.yaml`` writes them out)."""

    lmp: str = ""  # Play-LMP policy.pt ("" = not evaluated)
    gcbc: str = ""  # Play-GCBC policy.pt ("" = not evaluated)
    extra: dict[str, str] = field(default_factory=dict)  # more policies: label -> policy.pt (play or imitation ladder)
    random_baseline: bool = False  # also run a uniform-random policy ("random") on the same episodes
    tasks: list[str] = field(default_factory=list)  # [] = every task in skill_rl.play.tasks.TASKS
    episodes: int = 50  # per task (same starts and goals for every policy)
    horizon: int = 0  # steps per episode; 0 = the task's own (200 = 10 s)
    replan_every: int = 20  # re-plan every N steps (20 = 1 s at 20 Hz); 0 = as saved with the policy
    deterministic: bool = True  # proposal mean + action-mixture mode instead of sampling
    sample_plan: bool = False  # Play-LMP: draw the plan from the proposal (the paper) even when deterministic
    perturb_m: float = 0.0  # > 0: move the gripper this far away (random direction) before the policy starts
    videos: int = 1  # rollout videos per policy and task (the first episodes)
    video_format: str = "mp4"  # mp4 | gif
    seed: int = 0
    run_root: str = "runs"
    run_name: str = "play-eval"
    progress: bool = True
    debug: bool = False  # tiny: 1 episode per task, 10 steps, videos of 2 tasks; trains tiny policies if none given


class RandomPolicy:
    """Uniform random actions in [-1, 1]^7 (seeded): the chance level of each task."""

    def __init__(self, seed: int = 0, act_dim: int = 7) -> None:
        self.rng, self.act_dim = np.random.default_rng(seed), act_dim

    def reset(self) -> None:
        pass

    def act(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, self.act_dim).astype(np.float32)


def _load(path: str, cfg: PlayTaskEvalConfig) -> Any:
    """A Play-LMP / Play-GCBC policy (``skill-rl play train``) or an imitation-core policy (the ladder's
    ``policy.pt``: rung b's multi-task goal-conditioned BC, or a rung-a per-task BC, which ignores the goal), so
    the ladder's policies are compared with the play learners on the same episodes."""
    import torch

    from skill_rl.imitation import policy as core

    from . import policy as play

    blob = None
    if Path(path).is_file():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - the loaders below report the unreadable file by name
            blob = None
    if isinstance(blob, dict) and blob.get("format") == core.FORMAT:
        return core.HistoryPolicy.load(path, deterministic=cfg.deterministic)
    return play.LatentPlanPolicy.load(path, deterministic=cfg.deterministic, replan_every=cfg.replan_every or None,
                                      sample_plan=cfg.sample_plan or None)


def evaluate_policies(policies: dict[str, Any], tasks: list[PlayTask], *, episodes: int, seed: int = 0,
                      horizon: int = 0, perturb_m: float = 0.0, videos: int = 0, video_dir: Path | None = None,
                      video_format: str = "mp4", progress: bool = False,
                      episode_sets: dict[str, list[TaskEpisode]] | None = None, video_tasks: int | None = None
                      ) -> dict[str, Any]:
    """Success of each policy (label -> object with ``reset()``/``act(obs, goal)``) on each task.

    Returns ``{"per_task": {label: {task: rate}}, "average": {label: rate}, "successes": {label: {task:
    [bool]}}, "steps": ..., "progress": {label: {task: mean goal progress}}, "average_progress": {label: ...},
    "reached"/"moved": {label: {task: share of episodes that reached the object / moved it, success counting
    as both}} (:class:`skill_rl.play.tasks.PhaseTracker`),
    "videos": [paths], "episode_sets": {task: [TaskEpisode]}, "wall_s": ...}`` (progress: see
    :func:`skill_rl.play.tasks.goal_progress`).
    """
    from tqdm.auto import tqdm

    from skill_rl.envs.video import write_video

    env = make_play_env(render_mode="rgb_array" if videos > 0 and video_dir is not None else None)
    t0 = time.perf_counter()
    episode_sets = dict(episode_sets or {})
    succ: dict[str, dict[str, list[bool]]] = {label: {} for label in policies}
    steps: dict[str, dict[str, list[int]]] = {label: {} for label in policies}
    prog: dict[str, dict[str, list[float]]] = {label: {} for label in policies}
    reached: dict[str, dict[str, list[bool]]] = {label: {} for label in policies}
    moved: dict[str, dict[str, list[bool]]] = {label: {} for label in policies}
    written: list[str] = []
    total = len(tasks) * episodes * len(policies)
    bar = tqdm(total=total, desc="play-eval", unit="ep", disable=not progress)
    try:
        for k, task in enumerate(tasks):
            if task.name not in episode_sets:
                episode_sets[task.name] = sample_episodes(task, env, episodes, seed=seed)
            eps = episode_sets[task.name][:episodes]
            for label, policy in policies.items():
                s_list, n_list, p_list, r_list, m_list = [], [], [], [], []
                for i, ep in enumerate(eps):
                    film = video_dir is not None and i < videos and (video_tasks is None or k < video_tasks)
                    out = rollout(task, env, ep, policy, horizon=horizon or None, perturb_m=perturb_m,
                                  rng=np.random.default_rng([seed, ep.seed]), render=film)
                    s_list.append(bool(out["success"]))
                    n_list.append(int(out["steps"]))
                    p_list.append(float(out["progress"]))
                    r_list.append(bool(out["success"] or out["reach_m"] < REACHED_M))
                    m_list.append(bool(out["success"] or out["moved_m"] > MOVED_M))
                    if film:
                        name = f"{label}_{task.name}" + (f"_{i}" if videos > 1 else "") + f".{video_format}"
                        written.append(str(write_video(out["frames"], video_dir / name, fps=20)))
                    bar.update(1)
                succ[label][task.name], steps[label][task.name] = s_list, n_list
                prog[label][task.name] = p_list
                reached[label][task.name], moved[label][task.name] = r_list, m_list
    finally:
        bar.close()
        env.close()
    per_task = {lb: {t: float(np.mean(v)) for t, v in d.items()} for lb, d in succ.items()}
    average = {lb: float(np.mean(list(d.values()))) for lb, d in per_task.items()}
    mean_progress = {lb: {t: float(np.mean(v)) for t, v in d.items()} for lb, d in prog.items()}
    return {"per_task": per_task, "average": average, "successes": succ, "steps": steps, "videos": written,
            "progress": mean_progress, "reached": _rates(reached), "moved": _rates(moved),
            "average_progress": {lb: float(np.mean(list(d.values()))) for lb, d in mean_progress.items()},
            "episode_sets": episode_sets, "wall_s": time.perf_counter() - t0}


def _rates(flags: dict[str, dict[str, list[bool]]]) -> dict[str, dict[str, float]]:
    return {lb: {t: float(np.mean(v)) for t, v in d.items()} for lb, d in flags.items()}


def markdown_table(per_task: dict[str, dict[str, float]], episodes: int) -> str:
    """Tasks as rows, policies as columns, success in percent, with an average row."""
    labels = list(per_task)
    tasks = list(next(iter(per_task.values()))) if per_task else []
    lines = [f"| task ({episodes} episodes each) | " + " | ".join(labels) + " |",
             "|---|" + "---:|" * len(labels)]
    for t in tasks:
        lines.append(f"| {t} | " + " | ".join(f"{100 * per_task[lb][t]:.1f}" for lb in labels) + " |")
    avg = [100 * float(np.mean(list(per_task[lb].values()))) for lb in labels]
    lines.append("| **average** | " + " | ".join(f"**{a:.1f}**" for a in avg) + " |")
    return "\n".join(lines) + "\n"


def _plot(per_task: dict[str, dict[str, float]], path: Path, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(per_task)
    tasks = list(next(iter(per_task.values())))
    names = [*tasks, "average"]
    x = np.arange(len(names))
    width = 0.8 / max(len(labels), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(names) + 2), 4))
    for i, lb in enumerate(labels):
        vals = [per_task[lb][t] for t in tasks] + [float(np.mean(list(per_task[lb].values())))]
        ax.bar(x + (i - (len(labels) - 1) / 2) * width, vals, width, label=lb)
    ax.set_xticks(x, names, rotation=60, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("success rate")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def _debug_policies(run_path: Path) -> dict[str, str]:
    """Tiny Play-LMP and Play-GCBC trained (debug mode) on one tiny collected play set."""
    from .collect import PlayCollectConfig, collect_play
    from .train import PlayTrainConfig, train_play

    data = collect_play(PlayCollectConfig(debug=True, run_root=str(run_path), run_name="play-data"),
                        progress=False)["dataset"]
    return {algo: train_play(PlayTrainConfig(algo=algo, dataset=data, debug=True, progress=False,
                                             run_root=str(run_path), run_name=f"train-{algo}"))["policy"]
            for algo in ("lmp", "gcbc")}


def eval_tasks(cfg: PlayTaskEvalConfig) -> dict[str, Any]:
    """Evaluate the configured policies on the named play tasks; writes a run folder, returns its summary."""
    if cfg.debug:
        cfg = dataclasses.replace(cfg, episodes=1, horizon=10, videos=min(cfg.videos, 1))
    unknown = [t for t in cfg.tasks if t not in TASKS]
    if unknown:
        raise PlayEvalError(f"unknown task(s) {unknown}; known: {', '.join(TASKS)}")
    if cfg.episodes < 1:
        raise PlayEvalError(f"episodes must be >= 1, got {cfg.episodes}")
    if cfg.video_format not in ("mp4", "gif"):
        raise PlayEvalError(f"video_format must be mp4 or gif, got {cfg.video_format!r}")
    tasks = [TASKS[t] for t in (cfg.tasks or list(TASKS))]
    with start_run(cfg.run_root, cfg.run_name, cfg, tensorboard=False) as run:
        paths = {**({"Play-LMP": cfg.lmp} if cfg.lmp else {}), **({"Play-GCBC": cfg.gcbc} if cfg.gcbc else {}),
                 **cfg.extra}
        if not paths and not cfg.random_baseline:
            if not cfg.debug:
                raise PlayEvalError("no policy to evaluate: set lmp=<policy.pt> and/or gcbc=<policy.pt>")
            tiny = _debug_policies(run.path)
            paths = {"Play-LMP": tiny["lmp"], "Play-GCBC": tiny["gcbc"]}
        policies: dict[str, Any] = {label: _load(p, cfg) for label, p in paths.items()}
        obs_dim = make_play_env().obs_dim
        for label, pol in policies.items():
            if pol.config.obs_dim != obs_dim:
                raise PlayEvalError(f"{paths[label]}: policy expects {pol.config.obs_dim} observation features, the "
                                    f"play scene gives {obs_dim} (trained with obs_keys on another scene?)")
        if cfg.random_baseline:
            policies["random"] = RandomPolicy(cfg.seed)
        video_dir = run.subdir("videos") if cfg.videos > 0 else None
        res = evaluate_policies(policies, tasks, episodes=cfg.episodes, seed=cfg.seed, horizon=cfg.horizon,
                                perturb_m=cfg.perturb_m, videos=cfg.videos, video_dir=video_dir,
                                video_format=cfg.video_format, progress=cfg.progress,
                                video_tasks=2 if cfg.debug else None)
        rows = []
        for label in policies:
            for task in tasks:
                s = res["successes"][label][task.name]
                rows.append({"policy": label, "task": task.name, "episodes": len(s), "successes": int(sum(s)),
                             "success_rate": float(np.mean(s)),
                             "mean_steps": float(np.mean(res["steps"][label][task.name])),
                             "mean_progress": res["progress"][label][task.name],
                             "reached_rate": res["reached"][label][task.name],
                             "moved_rate": res["moved"][label][task.name]})
        with open(run.path / "results.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        table = markdown_table(res["per_task"], cfg.episodes)
        (run.path / "results.md").write_text(table, encoding="utf-8")
        title = f"play tasks, {cfg.episodes} episodes each" + (f", perturbed {cfg.perturb_m} m" if cfg.perturb_m else "")
        plot = _plot(res["per_task"], run.path / "plots" / "success.png", title)
        summary = {"run_dir": str(run.path), "policies": paths, "episodes": cfg.episodes,
                   "tasks": [t.name for t in tasks], "per_task": res["per_task"], "average": res["average"],
                   "progress_per_task": res["progress"], "average_progress": res["average_progress"],
                   "reached_per_task": res["reached"], "moved_per_task": res["moved"],
                   "perturb_m": cfg.perturb_m, "replan_every": {lb: p.replan_every for lb, p in policies.items() if hasattr(p, "replan_every")},
                   "table": str(run.path / "results.md"), "csv": str(run.path / "results.csv"), "plot": plot,
                   "videos": res["videos"], "wall_s": round(res["wall_s"], 1)}
        run.write_summary(summary)
    return summary
