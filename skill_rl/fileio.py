"""Atomic file writes (stdlib only), for everything a run writes: configs, summaries, checkpoints, videos.

A reader (or a crash half-way through a write) never sees a half-written file: data goes to a temporary
file in the same directory, is flushed to disk, then renamed over the target with ``os.replace`` (atomic on
POSIX and Windows when both paths are on one filesystem, which the same directory guarantees).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]


def _final_mode(path: Path) -> int:
    """Keep an existing file's permissions; new files get rw-r--r-- (mkstemp's default is rw-------)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o644


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; when the block exits cleanly, it replaces ``path``.

    For writers that want a file name rather than bytes (imageio, ``torch.save``, h5py). The temporary name
    keeps ``path``'s suffix, so tools that pick a format from the extension still do. If the block raises,
    the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.tmp-", suffix=target.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _final_mode(target))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parents are created). Returns the path."""
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (parents are created). Returns the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: str | os.PathLike[str], obj: object, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (plus a final newline) to ``path`` atomically: results files and summaries.

    ``obj`` must be plain JSON data; ``json.dumps`` raises on anything else before the target is touched.
    """
    return atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")
