"""SB3 checkpoints of a discovery run: ``ckpt/step_<n>.zip`` (+ ``.buffer.pkl``), written atomically.

Older checkpoints are never overwritten by a newer one, so the previous one stays usable; a file that cannot
be read raises :class:`CheckpointError` naming it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from skill_rl.errors import UserError
from skill_rl.fileio import atomic_path

from .algorithms import BASES

__all__ = ["CKPT_RE", "CheckpointError", "checkpoint_base", "find_checkpoints", "load_checkpoint", "resume_target",
           "save_checkpoint"]

CKPT_RE = re.compile(r"^step_(\d+)\.zip$")


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, corrupted or unreadable; the message names the file."""


def find_checkpoints(ckpt_dir: str | Path) -> list[Path]:
    """``step_<n>.zip`` files in ``ckpt_dir``, oldest first."""
    d = Path(ckpt_dir)
    found = [(int(m.group(1)), p) for p in d.glob("step_*.zip") if (m := CKPT_RE.match(p.name))] if d.is_dir() else []
    return [p for _, p in sorted(found)]


def save_checkpoint(model: Any, ckpt_dir: Path, keep: int, replay_buffer: bool) -> Path:
    """Buffer first, then the model (the .zip appearing marks a complete checkpoint); both atomic."""
    stem = f"step_{model.num_timesteps:09d}"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    if replay_buffer and hasattr(model, "save_replay_buffer"):  # on-policy models have none
        with atomic_path(ckpt_dir / f"{stem}.buffer.pkl") as tmp:
            model.save_replay_buffer(tmp)
    target = ckpt_dir / f"{stem}.zip"
    with atomic_path(target) as tmp:
        model.save(tmp)
    for old in find_checkpoints(ckpt_dir)[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".buffer.pkl").unlink(missing_ok=True)
    return target


def checkpoint_base(path: str | Path) -> str:
    """Which base (a name in :data:`~skill_rl.discovery.algorithms.BASES`) a checkpoint holds: its SB3 ``data``
    names the policy's module. A module no base claims reads as ``"sac"``, so run folders from before ``base``
    existed (SAC, no ``base`` in their config.yaml) still load."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            module = json.loads(z.read("data"))["policy_class"]["__module__"]
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is corrupted or unreadable ({type(exc).__name__}: {exc})") from None
    return next((name for name, b in BASES.items() if module.endswith(b.policy_module)), "sac")


def load_checkpoint(path: str | Path, env: Any = None, device: str = "cpu", replay_buffer: bool = True,
                    base: str | None = None):
    """Load a SLIM checkpoint (and its replay buffer if present); ``CheckpointError`` names a bad file.
    ``base``: a name in :data:`~skill_rl.discovery.algorithms.BASES` (``"ppo"``:
    :class:`~skill_rl.discovery.ppo.MultiHeadPPO`, ``"sac"``: :class:`~skill_rl.discovery.slim.SLIM`); None:
    whichever the checkpoint holds."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    cls = BASES.get(base or checkpoint_base(path)).model_class()
    try:
        model = cls.load(path, env=env, device=device)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is corrupted or unreadable ({type(exc).__name__}: {exc})") from None
    buf = path.with_suffix(".buffer.pkl")
    if replay_buffer and buf.is_file():
        try:
            model.load_replay_buffer(buf)
        except Exception as exc:
            raise CheckpointError(f"replay buffer {buf} is corrupted or unreadable ({type(exc).__name__}: {exc})") from None
    model._last_obs = None  # the env is fresh: start a new episode
    return model


def resume_target(resume: str) -> tuple[Path, Path]:
    """(run folder, checkpoint) to continue from ``resume``: a run folder (its latest checkpoint) or a ``.zip``."""
    p = Path(resume)
    if p.suffix == ".zip":
        return p.parent.parent, p
    ckpts = find_checkpoints(p / "ckpt")
    if not ckpts:
        raise CheckpointError(f"nothing to resume: no checkpoint in {p / 'ckpt'}")
    return p, ckpts[-1]
