"""skill_rl.runs: run folders, metrics to CSV + TensorBoard, atomic summary.json."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass

import numpy as np
import pytest

from skill_rl.config import load_config
from skill_rl.runs import atomic_write_bytes, atomic_write_text, start_run


@dataclass
class Cfg:
    lr: float = 0.1
    name: str = "x"


def read_tb_scalars(run_dir):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    (path,) = (run_dir / "tb").glob("events.out.tfevents.*")
    out = {}
    for event in EventFileLoader(str(path)).Load():
        for v in event.summary.value:
            out[(v.tag, event.step)] = v.simple_value if v.HasField("simple_value") else v.tensor.float_val[0]
    return out


def test_run_folder_layout(tmp_path):
    with start_run(tmp_path / "runs", "my run/1", Cfg(lr=0.5)) as run:
        assert run.path.parent == tmp_path / "runs"
        assert run.name.startswith("my-run-1-")
        assert load_config(Cfg, run.config_path) == Cfg(lr=0.5)
        run.metrics.log({"a/return": 1.5, "a/success": True, "b": np.float32(2.0)}, step=0)
        run.metrics.log_scalar("a/return", 3, step=1)
        run.write_summary({"rate": np.float64(0.5), "arr": np.arange(3), "nan": float("nan"), "cfg": Cfg()})
        videos = run.subdir("videos")
        assert videos.is_dir()
    with open(run.path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["step"], r["tag"], float(r["value"])) for r in rows] == [
        ("0", "a/return", 1.5), ("0", "a/success", 1.0), ("0", "b", 2.0), ("1", "a/return", 3.0),
    ]
    assert json.loads(run.summary_path.read_text()) == {
        "rate": 0.5, "arr": [0, 1, 2], "nan": None, "cfg": {"lr": 0.1, "name": "x"},
    }
    scalars = read_tb_scalars(run.path)
    assert scalars[("a/return", 0)] == pytest.approx(1.5)
    assert scalars[("a/return", 1)] == pytest.approx(3.0)
    assert scalars[("a/success", 0)] == pytest.approx(1.0)


def test_same_second_runs_get_distinct_folders(tmp_path):
    a = start_run(tmp_path, "r")
    b = start_run(tmp_path, "r")
    assert a.path != b.path and a.path.is_dir() and b.path.is_dir()
    assert not a.config_path.exists()  # no config given, none written


def test_csv_only_logger(tmp_path):
    with start_run(tmp_path, "r", tensorboard=False) as run:
        run.metrics.log({"x": 1}, step=0)
    assert (run.path / "metrics.csv").exists() and not (run.path / "tb").exists()


def test_bad_run_name(tmp_path):
    with pytest.raises(ValueError, match="no usable characters"):
        start_run(tmp_path, "///")


def test_atomic_helpers(tmp_path):
    p = atomic_write_text(tmp_path / "a" / "b.txt", "hello")
    assert p.read_text() == "hello"
    atomic_write_bytes(p, b"bye")
    assert p.read_bytes() == b"bye"
    assert (p.stat().st_mode & 0o777) == 0o644
    assert sorted(x.name for x in p.parent.iterdir()) == ["b.txt"]
