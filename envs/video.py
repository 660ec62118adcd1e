"""Videos of episodes: write RGB frames to .mp4 / .gif, and roll out a policy while filming it.

Rendering MuJoCo without a display needs an OpenGL backend chosen *before* mujoco is imported:
``MUJOCO_GL=osmesa`` (CPU, ``apt-get install libosmesa6``) or ``MUJOCO_GL=egl`` (GPU). This library never
sets it; the ``skill-rl`` command and ``scripts/*.sh`` do.

``.mp4`` is H.264 (yuv420p, plays everywhere) through imageio-ffmpeg's bundled ffmpeg; ``.gif`` goes
through Pillow. Both are written atomically (temporary file + rename).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from skill_rl.fileio import atomic_path

__all__ = ["VIDEO_EXTENSIONS", "record_episode", "run_episode", "write_video"]

VIDEO_EXTENSIONS = (".mp4", ".gif")


def _check_frames(frames: Iterable[np.ndarray]) -> list[np.ndarray]:
    out = [np.asarray(f) for f in frames]
    if not out:
        raise ValueError("no frames to write: got an empty sequence (did render() return None?)")
    first = out[0]
    for i, f in enumerate(out):
        if f.ndim != 3 or f.shape[-1] not in (3, 4):
            raise ValueError(f"frame {i} has shape {f.shape}; expected (height, width, 3) RGB or (height, width, 4) RGBA")
        if f.shape != first.shape:
            raise ValueError(f"frame {i} has shape {f.shape} but frame 0 has {first.shape}; all frames must match")
        if f.dtype != np.uint8:
            raise ValueError(f"frame {i} has dtype {f.dtype}; expected uint8 in [0, 255]")
    if first.shape[0] < 1 or first.shape[1] < 1:
        raise ValueError(f"frames have shape {first.shape}; height and width must be at least 1")
    return [f[..., :3] for f in out]


def write_video(frames: Iterable[np.ndarray], path: str | os.PathLike[str], fps: float = 20) -> Path:
    """Write uint8 (H, W, 3) frames to ``path`` (.mp4 or .gif, chosen by extension). Returns the path.

    Frames with odd height/width are padded by one edge pixel for H.264. Raises ``ValueError`` for an
    unsupported extension, no frames, or frames of the wrong shape/dtype.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in VIDEO_EXTENSIONS:
        raise ValueError(f"unsupported video extension {path.suffix!r} for {path}; use one of {', '.join(VIDEO_EXTENSIONS)}")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    checked = _check_frames(frames)
    if ext == ".mp4":
        _write_mp4(checked, path, fps)
    else:
        _write_gif(checked, path, fps)
    return path


def _write_mp4(frames: list[np.ndarray], path: Path, fps: float) -> None:
    import imageio.v2 as imageio

    h, w = frames[0].shape[:2]
    pad = ((0, h % 2), (0, w % 2), (0, 0))
    with atomic_path(path) as tmp:
        writer = imageio.get_writer(
            tmp, format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p",
            macro_block_size=2, ffmpeg_log_level="error",
        )
        try:
            for f in frames:
                writer.append_data(np.pad(f, pad, mode="edge") if any(p[1] for p in pad) else f)
        finally:
            writer.close()


def _write_gif(frames: list[np.ndarray], path: Path, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp, format="GIF", save_all=True, append_images=images[1:], duration=max(int(round(1000 / fps)), 10),
            loop=0,
        )


def _policy_fn(policy: Any) -> Callable[[Any], Any]:
    if hasattr(policy, "act") and callable(policy.act):
        return policy.act
    if callable(policy):
        return policy
    raise TypeError(f"policy must be a callable obs -> action or have an act(obs) method, got {policy!r}")


def run_episode(
    env: Any, policy: Any, seed: int | None = 0, max_steps: int | None = None, render: bool = False
) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Roll out one episode; return ``({"return", "success", "length"}, frames)``.

    ``policy`` is a callable obs -> action, or an object with ``act(obs)`` (and optionally ``reset()``,
    called right after ``env.reset``: the scripted experts). The episode ends when the env terminates or
    truncates, or after ``max_steps`` steps. ``success`` is true if ``info["is_success"]`` was true at any
    step. With ``render=True`` the frames (one after reset, one per step) are returned; the env needs
    ``render_mode="rgb_array"``.
    """
    if render and getattr(env, "render_mode", None) != "rgb_array":
        raise ValueError(f"rendering needs an env made with render_mode='rgb_array', got {env.render_mode!r}")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be at least 1 or None, got {max_steps}")
    act = _policy_fn(policy)
    obs, info = env.reset(seed=seed)
    if hasattr(policy, "reset") and callable(policy.reset):
        policy.reset()
    frames: list[np.ndarray] = []

    def grab() -> None:
        frame = env.render()
        if frame is None:
            raise RuntimeError("env.render() returned None; make the env with render_mode='rgb_array'")
        frames.append(np.asarray(frame))

    if render:
        grab()
    total, success, length = 0.0, bool(info.get("is_success", False)), 0
    while True:
        obs, reward, terminated, truncated, info = env.step(act(obs))
        total += float(reward)
        length += 1
        success = success or bool(info.get("is_success", False))
        if render:
            grab()
        if terminated or truncated or (max_steps is not None and length >= max_steps):
            break
    return {"return": total, "success": success, "length": length}, frames


def record_episode(
    env: Any, policy: Any, path: str | os.PathLike[str], seed: int = 0, max_steps: int | None = None,
    fps: float | None = None,
) -> dict[str, Any]:
    """Roll out one episode while rendering and write it to ``path`` (.mp4/.gif).

    Returns ``{"return", "success", "length", "path"}``. ``fps`` defaults to the env's
    ``metadata["render_fps"]`` (its control frequency), so the video plays in real time.
    """
    ext = Path(path).suffix.lower()
    if ext not in VIDEO_EXTENSIONS:  # fail before spending time on the rollout
        raise ValueError(f"unsupported video extension {Path(path).suffix!r} for {path}; use one of {', '.join(VIDEO_EXTENSIONS)}")
    stats, frames = run_episode(env, policy, seed=seed, max_steps=max_steps, render=True)
    if fps is None:
        fps = float(getattr(env, "metadata", {}).get("render_fps") or 20)
    stats["path"] = str(write_video(frames, path, fps))
    return stats
