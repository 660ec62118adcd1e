"""The end-to-end demo: scripted experts on the tabletop tasks, logged, filmed and summarised.

For each task: make the env, run its scripted expert for ``episodes`` episodes (seeds ``seed``,
``seed + 1``, ...), log each episode's return/success/length to the run's ``metrics.csv`` and TensorBoard,
film the first episode to ``videos/<task>.mp4`` (when offscreen rendering works), and write ``summary.json``
with the per-task success rate. ``skill-rl demo`` is a thin wrapper around ``run_demo``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError
from .runs import start_run

log = logging.getLogger(__name__)

DEFAULT_TASKS = (
    "TabletopReach", "TabletopPush", "TabletopLift", "TabletopPickPlace", "TabletopStack", "TabletopDrawer",
)


@dataclass
class DemoConfig:
    """Settings of ``skill-rl demo`` (``configs/demo.yaml`` writes these defaults out)."""

    # Env ids; the "skill_rl/" namespace and the "-v0" version are optional.
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    episodes: int = 5  # per task
    seed: int = 0  # episode i of every task uses seed + i
    max_steps: int | None = None  # per-episode step cap; null: the env's own limit (200 steps, 10 s)
    video: bool = True  # film episode 0 of each task to videos/<task>.mp4 (needs offscreen rendering)
    env_options: dict[str, Any] = field(default_factory=dict)  # passed to every env, e.g. {terminate_on_success: true}
    run_root: str = "runs"  # runs go to <run_root>/<run_name>-<timestamp>/
    run_name: str = "demo"
    debug: bool = False  # tiny mode: one episode per task


class DemoError(UserError, ValueError):
    """The demo cannot start with this config (unknown env id, a task without an expert, bad options)."""


def resolve_env_id(name: str) -> str:
    """``"TabletopLift"`` / ``"TabletopLift-v0"`` / ``"skill_rl/TabletopLift-v0"`` -> ``"skill_rl/TabletopLift-v0"``."""
    from skill_rl import envs

    short = name.split("/", 1)[1] if name.startswith(f"{envs.NAMESPACE}/") else name
    candidates = [short] if "-v" in short else [short, f"{short}-v0"]
    for c in candidates:
        if c in envs.ENV_SPECS:
            return f"{envs.NAMESPACE}/{c}"
    raise DemoError(f"unknown env id {name!r}; available: {', '.join(envs.list_env_ids())}")


def _short(env_id: str) -> str:
    return env_id.split("/", 1)[-1].rsplit("-v", 1)[0]


def _check(cfg: DemoConfig) -> None:
    if not cfg.tasks:
        raise DemoError("demo config: 'tasks' is empty; give at least one env id")
    if cfg.episodes < 1:
        raise DemoError(f"demo config: 'episodes' must be at least 1, got {cfg.episodes}")
    if cfg.max_steps is not None and cfg.max_steps < 1:
        raise DemoError(f"demo config: 'max_steps' must be at least 1 or null, got {cfg.max_steps}")


def _setup(cfg: DemoConfig) -> list[tuple[str, Any, Any]]:
    """Make every env and expert before anything runs, so a bad id or option fails in seconds."""
    from skill_rl import envs
    from skill_rl.envs.tabletop.experts import make_expert

    ids = [resolve_env_id(t) for t in cfg.tasks]
    if len(set(ids)) != len(ids):
        raise DemoError(f"demo config: 'tasks' lists a task twice: {cfg.tasks}")
    made: list[tuple[str, Any, Any]] = []
    try:
        for env_id in ids:
            try:
                env = envs.make(env_id, render_mode="rgb_array" if cfg.video else None, **cfg.env_options)
            except (TypeError, ValueError) as exc:
                raise DemoError(f"cannot make {env_id} with env_options={cfg.env_options}: {exc}") from None
            made.append((env_id, env, None))
            try:
                expert = make_expert(env)
            except (KeyError, ValueError) as exc:
                msg = exc.args[0] if exc.args else exc
                raise DemoError(f"{env_id}: {msg}") from None
            made[-1] = (env_id, env, expert)
    except BaseException:
        for _, env, _ in made:
            env.close()
        raise
    return made


def _render_probe(env: Any, seed: int) -> str | None:
    """None if ``env`` can render a frame, else why not (no OpenGL backend, missing libOSMesa...)."""
    try:
        env.reset(seed=seed)
        frame = env.render()
        if frame is None:
            return "env.render() returned None"
    except Exception as exc:  # any GL failure means "no video", never "no demo"
        return f"{type(exc).__name__}: {exc}"
    return None


def run_demo(cfg: DemoConfig, *, progress: bool = True) -> dict[str, Any]:
    """Run the demo described by ``cfg``; return the summary (also written to ``<run>/summary.json``).

    The summary has ``run_dir``, ``tasks`` (per task: success_rate, mean_return, mean_length, episodes,
    video path or null), ``mean_success_rate``, ``video_error`` (why videos were skipped, or null) and
    ``elapsed_s``. Raises ``DemoError`` for an unknown env id or unusable options, before creating a run.
    """
    from tqdm.auto import tqdm

    from skill_rl.envs.video import run_episode, write_video

    if cfg.debug:
        cfg = dataclasses.replace(cfg, episodes=1)
    _check(cfg)
    setups = _setup(cfg)
    t0 = time.perf_counter()
    video_error: str | None = None
    if cfg.video:
        video_error = _render_probe(setups[0][1], cfg.seed)
        if video_error:
            log.warning("offscreen rendering does not work here, so no videos: %s", video_error)
    per_task: dict[str, dict[str, Any]] = {}
    with start_run(cfg.run_root, cfg.run_name, cfg) as run:
        bar = tqdm(total=len(setups) * cfg.episodes, desc="demo", unit="ep", disable=not progress, leave=True)
        try:
            for env_id, env, expert in setups:
                task = _short(env_id)
                bar.set_description(task)
                results = []
                video_path: str | None = None
                for ep in range(cfg.episodes):
                    film = cfg.video and ep == 0 and video_error is None
                    stats, frames = run_episode(env, expert, seed=cfg.seed + ep, max_steps=cfg.max_steps, render=film)
                    if film:
                        target = run.subdir("videos") / f"{task}.mp4"
                        try:
                            write_video(frames, target, fps=env.metadata.get("render_fps", 20))
                            video_path = str(target.relative_to(run.path))
                        except Exception as exc:  # e.g. ffmpeg missing: keep the numbers, lose the video
                            video_error = f"{type(exc).__name__}: {exc}"
                            log.warning("could not write %s: %s", target, video_error)
                    run.metrics.log(
                        {f"{task}/return": stats["return"], f"{task}/success": float(stats["success"]),
                         f"{task}/length": stats["length"]},
                        step=ep,
                    )
                    results.append(stats)
                    bar.update(1)
                    bar.set_postfix(success=f"{sum(r['success'] for r in results)}/{len(results)}")
                n = len(results)
                per_task[task] = {
                    "env_id": env_id,
                    "episodes": n,
                    "success_rate": sum(r["success"] for r in results) / n,
                    "mean_return": sum(r["return"] for r in results) / n,
                    "mean_length": sum(r["length"] for r in results) / n,
                    "video": video_path,
                }
        finally:
            bar.close()
            for _, env, _ in setups:
                env.close()
        summary = {
            "run_dir": str(run.path),
            "tasks": per_task,
            "mean_success_rate": sum(t["success_rate"] for t in per_task.values()) / len(per_task),
            "episodes_per_task": cfg.episodes,
            "video_error": video_error,
            "elapsed_s": round(time.perf_counter() - t0, 2),
        }
        run.write_summary(summary)
    return summary
