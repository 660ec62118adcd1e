"""The imitation ladder's pieces on the play tasks (skill_rl.play.ladder): demos -> BC policy -> evaluation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skill_rl.play.dataset import PlayDatasetWriter
from skill_rl.play.ladder import BCRecipe, evaluate_bc, load_demos, train_bc
from skill_rl.play.train import PlayTrainError


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    from skill_rl.play.demos import collect_task_demos
    from skill_rl.play.tasks import TASKS

    root = tmp_path_factory.mktemp("demos")
    return {n: collect_task_demos(TASKS[n], root / f"{n}.hdf5", 2, seed=1)["dataset"]
            for n in ("push_red_left", "close_drawer")}


def test_goal_conditioned_policy_trains_and_acts_on_task_goals(demo_files, tmp_path):
    """Rung b's policy: the goal input is the play goal layout's features of a whole goal observation."""
    from skill_rl.play.tasks import TASKS, make_play_env, sample_episodes

    torch.set_num_threads(1)
    recipe = BCRecipe(hidden=32, steps=30)
    policy, summary = train_bc(list(demo_files.values()), recipe, seed=0, goal=True, ckpt_path=tmp_path / "c.pt")
    assert summary["demos"] == 4 and summary["steps"] == 30 and (tmp_path / "c.pt").is_file()
    assert len(policy.config.goal_index) == 22  # 3 objects x (pos 3 + quat 4) + the drawer opening
    env = make_play_env()
    task = TASKS["close_drawer"]
    eps = sample_episodes(task, env, 2, seed=0)
    res = evaluate_bc(policy, task, eps, env, horizon=5)
    env.close()
    assert res["episodes"] == 2 and len(res["success"]) == 2 and 0.0 <= res["success_rate"] <= 1.0
    # resumed from the finished checkpoint: the same weights, no training
    again, s2 = train_bc(list(demo_files.values()), recipe, seed=0, goal=True, ckpt_path=tmp_path / "c.pt")
    assert s2["resumed_from"] == 30
    for a, b in zip(policy.model.state_dict().values(), again.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_bad_demo_files_are_clear_errors(demo_files, tmp_path):
    other = tmp_path / "other.hdf5"
    with PlayDatasetWriter(other, {"env_id": "pointmass", "obs_layout": {"pos": [0, 2]}}, compression=None) as w:
        w.add_episode({"pos": np.zeros((3, 2), np.float32)}, np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="observation keys"):
        load_demos([demo_files["push_red_left"], other], history=2, goal=True)
    with pytest.raises(PlayTrainError, match="cube_green_pos"):
        train_bc([demo_files["push_red_left"]], BCRecipe(hidden=8, steps=1, goal_keys=["cube_green_pos"]), seed=0,
                 goal=True)
    with pytest.raises(ValueError, match="no demo files"):
        load_demos([], history=2, goal=False)


def test_ladder_demos_of_another_noise_level_are_an_error_not_reused(tmp_path):
    """``benchmarks/imitation.py --demo-noise``: a demos folder written at another DART noise is refused by name,
    so that two noise levels never mix in one result."""
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "imitation.py"
    spec = importlib.util.spec_from_file_location("imitation_bench", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    done = bench._demos_job(str(tmp_path), "close_drawer", 1, 0.2)
    assert done["action_noise"] == 0.2 and json.loads((tmp_path / "close_drawer.json").read_text())["demos"] == 1
    assert bench._demos_job(str(tmp_path), "close_drawer", 1, 0.2)["wall_s"] == done["wall_s"]  # reused
    with pytest.raises(SystemExit, match=r"close_drawer.hdf5 holds demos of DART noise 0.2, not --demo-noise 0.1"):
        bench._demos_job(str(tmp_path), "close_drawer", 1, 0.1)


def test_ladder_play_takes_several_files_and_names_a_missing_one(tmp_path, monkeypatch):
    """``benchmarks/imitation.py --play a,b`` (two collections pooled into a longer play): a missing file is refused
    by name before anything is trained."""
    import importlib.util
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "imitation.py"
    spec = importlib.util.spec_from_file_location("imitation_bench", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    there = tmp_path / "play.hdf5"
    there.write_bytes(b"")
    monkeypatch.setattr(sys, "argv", ["imitation.py", "--rungs", "c", "--play", f"{there},{tmp_path / 'gone.hdf5'}",
                                      "--out-dir", str(tmp_path / "out")])
    with pytest.raises(SystemExit, match=r"--play: no such file: .*gone\.hdf5"):
        bench.main()
    assert not (tmp_path / "out").exists()


def test_the_ladder_judges_play_lmp_against_play_gcbc_on_the_same_play(tmp_path):
    """``benchmarks/imitation_ladder.py``: a rung holds at its target; Play-LMP also needs Play-GCBC's success on the
    same play (the paper's ordering), so 70 % is not enough beside a Play-GCBC of 80 %."""
    import importlib.util
    import json
    import shutil
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "imitation_ladder.py"
    spec = importlib.util.spec_from_file_location("imitation_ladder", script)
    ladder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ladder)
    for name in [f for f, *_ in ladder.RUNGS.values()] + [ladder.LMP_SAME_PLAY_GCBC]:
        shutil.copy(ladder.RESULTS / name, tmp_path / name)

    def set_mean(name, key, value):
        doc = json.loads((tmp_path / name).read_text())
        doc[key]["mean"] = value
        (tmp_path / name).write_text(json.dumps(doc))

    lmp_file = ladder.RUNGS["play_lmp_success"][0]
    set_mean(lmp_file, "play_lmp_success", 0.7)
    set_mean(ladder.LMP_SAME_PLAY_GCBC, "play_gcbc_success", 0.8)
    doc = ladder.build(tmp_path)
    assert not doc["play_lmp_success"]["met"] and doc["play_lmp_success"]["gcbc_same_play"] == 0.8
    set_mean(ladder.LMP_SAME_PLAY_GCBC, "play_gcbc_success", 0.65)
    assert ladder.build(tmp_path)["play_lmp_success"]["met"]
    set_mean(ladder.RUNGS["play_gcbc_success"][0], "play_gcbc_success", 0.59)
    assert not ladder.build(tmp_path)["play_gcbc_success"]["met"]
    assert "| `play_lmp_success` |" in ladder.markdown(doc)
