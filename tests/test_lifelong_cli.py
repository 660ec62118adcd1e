"""`skill-rl lifelong ...`: thin commands, one red error line and exit status 2 on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from skill_rl.cli import app

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_run_debug_prints_the_table(tmp_path: Path) -> None:
    res = runner.invoke(app, ["lifelong", "run", "--suite", "tabletop-micro", "--algo", "seql", "--debug",
                              "--no-progress", f"run_root={tmp_path}"])
    assert res.exit_code == 0, res.output
    assert "| tabletop-micro | seql | 1 |" in res.output
    run = next(tmp_path.glob("lifelong-tabletop-micro-seql-*"))
    assert (run / "plots" / "success_matrix.png").is_file()


def test_bad_input_is_one_error_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["lifelong", "run", "--suite", "tabletop-micro", "--algo", "sgd", "--debug",
                              f"run_root={tmp_path}"])
    assert res.exit_code == 2 and "algo must be one of" in res.output
    res = runner.invoke(app, ["lifelong", "demos", "--suite", "tabletop-nope", "--debug"])
    assert res.exit_code == 2 and "unknown suite 'tabletop-nope'" in res.output
    res = runner.invoke(app, ["lifelong", "generate", "--suite", "tabletop-nope", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "unknown suite" in res.output


def test_generate_and_demos_commands(tmp_path: Path) -> None:
    res = runner.invoke(app, ["lifelong", "generate", "--suite", "tabletop-goal", "--n-tasks", "2",
                              "--out", str(tmp_path / "tasks")])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "tasks").glob("*.task"))) == 2
    res = runner.invoke(app, ["lifelong", "demos", "--suite", "tabletop-micro", "--debug", "--no-progress",
                              f"demos_dir={tmp_path / 'demos'}"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "demos").glob("*.hdf5")) == ["lift.hdf5", "reach.hdf5"]
