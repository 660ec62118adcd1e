"""Run folders: every run writes its config, metrics, videos and summary to its own directory.

::

    with start_run("runs", "demo", cfg) as run:          # runs/demo-20261125-140312/
        run.metrics.log({"TabletopLift/return": 12.5}, step=3)
        run.write_summary({"success_rate": 0.8})

Layout of a run directory::

    config.yaml        the resolved config (dataclass -> YAML), loadable with load_config
    metrics.csv        long format: step,tag,value,wall_time (one row per scalar)
    tb/                TensorBoard event file(s): `tensorboard --logdir runs/`
    summary.json       final results (written atomically)
    videos/, ckpt/     whatever the run adds (use ``run.subdir("videos")``)

TensorBoard: scalars are written with TensorBoard's own ``EventFileWriter`` and protobufs (imported on the
first ``log`` call, ~0.5 s), not ``torch.utils.tensorboard.SummaryWriter``, so logging needs no torch and
non-learning runs (the demo, benchmarks) stay light. The files are the same format either way.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import config_to_dict, dump_config
from .fileio import atomic_path, atomic_write_bytes, atomic_write_text

__all__ = [
    "MetricLogger", "RunDir", "atomic_path", "atomic_write_bytes", "atomic_write_text", "start_run", "to_jsonable",
]


class MetricLogger:
    """Scalars to ``metrics.csv`` (long format) and to TensorBoard under ``tb/``.

    Rows are flushed after every ``log`` call, so the CSV is readable while the run is going (and after a
    crash). ``tensorboard=False`` writes the CSV only.
    """

    CSV_FIELDS = ("step", "tag", "value", "wall_time")

    def __init__(self, run_dir: str | os.PathLike[str], tensorboard: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.csv_path = self.run_dir / "metrics.csv"
        self.tb_dir = self.run_dir / "tb"
        self._use_tb = tensorboard
        self._tb: Any = None
        new = not self.csv_path.exists()
        self._csv_file = open(self.csv_path, "a", newline="", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._csv = csv.writer(self._csv_file)
        if new:
            self._csv.writerow(self.CSV_FIELDS)
            self._csv_file.flush()

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        """Log each ``tag -> value`` at ``step``. Tags use ``/`` to group (``"TabletopLift/return"``)."""
        now = time.time()
        rows = []
        for tag, value in scalars.items():
            v = float(value)  # bools, ints, numpy scalars
            rows.append((int(step), str(tag), repr(v) if math.isfinite(v) else str(v), f"{now:.3f}"))
        if self._csv_file.closed:
            raise ValueError(f"MetricLogger for {self.run_dir} is closed")
        self._csv.writerows(rows)
        self._csv_file.flush()
        if self._use_tb:
            self._write_tb({tag: float(value) for tag, value in scalars.items()}, int(step), now)

    def log_scalar(self, tag: str, value: float, step: int) -> None:
        self.log({tag: value}, step)

    def _write_tb(self, scalars: dict[str, float], step: int, wall_time: float) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        if self._tb is None:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter

            self.tb_dir.mkdir(parents=True, exist_ok=True)
            self._tb = EventFileWriter(str(self.tb_dir))
        values = [Summary.Value(tag=tag, simple_value=v) for tag, v in scalars.items()]
        self._tb.add_event(Event(wall_time=wall_time, step=step, summary=Summary(value=values)))

    def flush(self) -> None:
        if not self._csv_file.closed:
            self._csv_file.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        if not self._csv_file.closed:
            self._csv_file.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, numpy scalars/arrays, paths and tuples as plain JSON data; NaN/inf become None."""
    obj = config_to_dict(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return str(obj)


class RunDir:
    """One run's output folder. Create it with ``start_run``; use it as a context manager to close logs."""

    def __init__(self, path: str | os.PathLike[str], tensorboard: bool = True) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._tensorboard = tensorboard
        self._metrics: MetricLogger | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    @property
    def metrics(self) -> MetricLogger:
        """The run's logger (created on first use, so a run that logs nothing has no metrics files)."""
        if self._metrics is None:
            self._metrics = MetricLogger(self.path, tensorboard=self._tensorboard)
        return self._metrics

    def subdir(self, name: str) -> Path:
        """``<run>/<name>/``, created if needed (``videos``, ``ckpt``, ``plots``)."""
        d = self.path / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def save_config(self, config: Any) -> Path:
        """Write the resolved config to ``config.yaml`` (a dataclass, or a plain mapping)."""
        return dump_config(config, self.config_path)

    def write_summary(self, summary: Mapping[str, Any]) -> Path:
        """Write ``summary.json`` atomically (numpy values and NaN are converted; keys keep their order)."""
        return atomic_write_text(self.summary_path, json.dumps(to_jsonable(summary), indent=2) + "\n")

    def close(self) -> None:
        if self._metrics is not None:
            self._metrics.close()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    if not cleaned:
        raise ValueError(f"run name {name!r} has no usable characters (use letters, digits, '.', '_', '-')")
    return cleaned


def start_run(
    root: str | os.PathLike[str] = "runs", name: str = "run", config: Any = None, *, tensorboard: bool = True
) -> RunDir:
    """Create ``<root>/<name>-<YYYYmmdd-HHMMSS>/`` (a ``-2``, ``-3``... suffix if taken) and save ``config``.

    ``config`` (a dataclass or mapping; optional) is written as ``config.yaml``.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = f"{_safe_name(name)}-{time.strftime('%Y%m%d-%H%M%S')}"
    for attempt in range(1, 1000):
        path = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - a thousand runs started within one second
        raise RuntimeError(f"could not create a run directory under {root}")
    run = RunDir(path, tensorboard=tensorboard)
    if config is not None:
        run.save_config(config)
    return run
