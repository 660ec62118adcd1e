"""What people look at after a discovery run: plots and a video grid of the skills.

* :func:`plot_end_positions`: the object's final xy (m, world frame, table top) of every evaluation rollout,
  coloured by skill, with its start marked; the table outline and the 10 cm coverage grid drawn.
* :func:`plot_reward_terms`: learning curves from the run's ``metrics.csv``: each reward term's episode
  return (one panel per term; smoothed), and each critic head's training loss.
* :func:`skill_video_grid`: one episode per skill, rendered and tiled into one video (a grid of tiles, each
  labelled by its skill), via :func:`skill_rl.envs.video.write_video`.
* :func:`write_report`: all of the above for one run (what ``run_discovery`` and ``evaluate_run`` write).

matplotlib runs on the Agg backend (no display); plots are written atomically.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from skill_rl.fileio import atomic_path

from .config import DiscoveryConfig

__all__ = ["plot_end_positions", "plot_reward_terms", "read_metrics", "skill_video_grid", "tile_frames",
           "write_report"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def plot_end_positions(initial_xy: np.ndarray, final_xy: np.ndarray, skill_ids: np.ndarray, path: str | Path,
                       table_half_xy: tuple[float, float] | None = None, cell: float = 0.1,
                       title: str = "object end positions by skill") -> Path:
    """Scatter of final object xy ``(N, 2)`` coloured by ``skill_ids`` ``(N,)``; starts as grey crosses."""
    plt = _plt()
    initial_xy, final_xy, skill_ids = np.asarray(initial_xy), np.asarray(final_xy), np.asarray(skill_ids)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(initial_xy[:, 0], initial_xy[:, 1], marker="x", c="0.6", label="start", zorder=2)
    skills = np.unique(skill_ids)
    cmap = plt.get_cmap("tab10" if len(skills) <= 10 else "tab20")
    for j, s in enumerate(skills):
        m = skill_ids == s
        ax.scatter(final_xy[m, 0], final_xy[m, 1], color=cmap(j % cmap.N), s=40, label=f"z={s}", zorder=3,
                   edgecolors="k", linewidths=0.4)
        for a, b in zip(initial_xy[m], final_xy[m], strict=True):
            ax.plot([a[0], b[0]], [a[1], b[1]], color=cmap(j % cmap.N), alpha=0.4, lw=0.8, zorder=1)
    if table_half_xy is not None:
        hx, hy = table_half_xy
        ax.add_patch(_plt().Rectangle((-hx, -hy), 2 * hx, 2 * hy, fill=False, ec="k", lw=1.2))
        ax.set_xticks(np.arange(math.floor(-hx / cell), math.ceil(hx / cell) + 1) * cell, minor=True)
        ax.set_yticks(np.arange(math.floor(-hy / cell), math.ceil(hy / cell) + 1) * cell, minor=True)
        ax.grid(which="minor", color="0.9", lw=0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper right", ncol=2)
    return _save(fig, Path(path))


def read_metrics(csv_path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``metrics.csv`` (long format ``step,tag,value,wall_time``) -> tag -> (steps, values)."""
    rows: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                rows[row["tag"]].append((float(row["step"]), float(row["value"])))
            except (KeyError, ValueError):
                continue
    return {t: (np.array([s for s, _ in v]), np.array([x for _, x in v])) for t, v in rows.items()}


def _smooth(y: np.ndarray, n: int) -> np.ndarray:
    if len(y) < 3 or n <= 1:
        return y
    n = min(n, len(y))
    c = np.cumsum(np.insert(y, 0, 0.0))
    out = np.empty_like(y, dtype=np.float64)
    for i in range(len(y)):
        lo = max(0, i - n + 1)
        out[i] = (c[i + 1] - c[lo]) / (i + 1 - lo)
    return out


def plot_reward_terms(csv_path: str | Path, path: str | Path, smooth: int = 10) -> Path | None:
    """One panel per reward term's episode return (``episode/<term>_return``) and one with each critic
    head's loss (``train/critic_loss_head<h>``); None when the CSV has none of them."""
    series = read_metrics(csv_path)
    terms = sorted(t for t in series if t.startswith("episode/") and t.endswith("_return"))
    heads = sorted(t for t in series if t.startswith("train/critic_loss_head"))
    panels = [[t] for t in terms] + ([heads] if heads else [])
    if not panels:
        return None
    plt = _plt()
    cols = min(len(panels), 4)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    for ax, tags in zip(axes.flat, panels, strict=False):
        for tag in tags:
            x, y = series[tag]
            if len(tags) == 1:
                ax.plot(x, y, color="0.8", lw=0.6)
            ax.plot(x, _smooth(y, smooth), lw=1.4, label=tag.split("/")[-1])
        name = tags[0].split("/")[-1][: -len("_return")] if len(tags) == 1 else "critic loss per head"
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("env step", fontsize=8)
        if len(tags) > 1:
            ax.set_yscale("log")
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("reward terms (episode return) and critic losses", fontsize=10)
    fig.tight_layout()
    return _save(fig, Path(path))


def tile_frames(tiles: Sequence[np.ndarray], cols: int | None = None, labels: Sequence[str] | None = None) -> np.ndarray:
    """Tile equally sized ``(H, W, 3)`` uint8 frames into one grid frame (black where a cell is empty)."""
    n = len(tiles)
    if n == 0:
        raise ValueError("no tiles")
    h, w = tiles[0].shape[:2]
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * h, cols * w, 3), dtype=np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        tile = np.asarray(t)[..., :3]
        if labels is not None:
            tile = _label(tile, labels[i])
        grid[r * h:(r + 1) * h, c * w:(c + 1) * w] = tile
    return grid


def _label(frame: np.ndarray, text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.ascontiguousarray(frame))
    ImageDraw.Draw(img).text((6, 4), text, fill=(255, 255, 0))
    return np.asarray(img)


def skill_video_grid(env: Any, act: Callable[[np.ndarray], np.ndarray], skills: Sequence[tuple[str, Any]],
                     path: str | Path, seed: int = 10_000, max_tiles: int = 16, fps: float | None = None) -> Path:
    """Roll out one episode per skill (``(label, z)`` pairs, z as accepted by the skill wrapper's
    ``reset(options={"skill": z})``) from the same start (``seed``), render every step, and write the tiled
    video. ``env`` must render (``render_mode="rgb_array"``); episodes that end early hold their last frame."""
    from skill_rl.envs.video import write_video

    movies: list[list[np.ndarray]] = []
    for _, z in list(skills)[:max_tiles]:
        obs, _ = env.reset(seed=seed, options={"skill": z})
        frames = [np.asarray(env.render())]
        done = False
        while not done:
            obs, _, term, trunc, _ = env.step(act(obs))
            frames.append(np.asarray(env.render()))
            done = term or trunc
        movies.append(frames)
    labels = [label for label, _ in list(skills)[:max_tiles]]
    length = max(len(m) for m in movies)
    grid = [tile_frames([m[min(t, len(m) - 1)] for m in movies], labels=labels) for t in range(length)]
    if fps is None:
        fps = float(getattr(env, "metadata", {}).get("render_fps") or 20)
    return write_video(grid, path, fps)


def write_report(run_path: Path, policy: Any, env: Any, cfg: DiscoveryConfig, rollouts: dict[str, Any],
                 seed: int = 10_000, out_dir: Path | None = None) -> dict[str, Any]:
    """Plots (``plots/end_positions.png``, ``plots/reward_terms.png`` from the run's ``metrics.csv``) and, with
    ``cfg.video``, the skill video grid (``videos/skills.mp4``) into ``out_dir`` (default: the run folder).
    Returns ``{"plots": [...], "video": path}`` or ``video_error`` (rendering unavailable), never raising for
    a missing renderer."""
    from .factory import make_env
    from .rollouts import eval_skills_list

    out: dict[str, Any] = {"plots": []}
    out_dir = out_dir or run_path
    plots = out_dir / "plots"
    if rollouts:
        from skill_rl.envs.tabletop.scene import TABLE_HALF_SIZE

        out["plots"].append(str(plot_end_positions(
            rollouts["initial_xy"], rollouts["final_xy"], rollouts["skill_ids"], plots / "end_positions.png",
            table_half_xy=(float(TABLE_HALF_SIZE[0]), float(TABLE_HALF_SIZE[1])),
            title=f"{cfg.algo}: object end positions by skill")))
    if (run_path / "metrics.csv").is_file():
        p = plot_reward_terms(run_path / "metrics.csv", plots / "reward_terms.png")
        if p is not None:
            out["plots"].append(str(p))
    if cfg.video:
        try:
            venv = make_env(dataclasses.replace(cfg, env_options={**cfg.env_options, "render_mode": "rgb_array"}))
            try:
                skills = [(f"z={sid}" if cfg.discrete_skills else f"z#{sid}", z)
                          for sid, z in eval_skills_list(venv, cfg, seed)]
                act = policy.act if hasattr(policy, "act") else (lambda o: policy.predict(o, deterministic=True)[0])
                out["video"] = str(skill_video_grid(venv, act, skills, out_dir / "videos" / "skills.mp4", seed=seed))
            finally:
                venv.close()
        except Exception as exc:  # no OpenGL backend, no ffmpeg: the run's results stand without the video
            out["video_error"] = f"{type(exc).__name__}: {exc}"
    return out

