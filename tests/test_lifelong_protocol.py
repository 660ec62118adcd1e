"""The lifelong protocol end to end on a 2-task micro suite (scripted demos -> training -> metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from skill_rl.lifelong.demos import DemoError, ObsSchema, load_task_data, suite_schema
from skill_rl.lifelong.metrics import metrics_from_curves
from skill_rl.lifelong.protocol import LifelongConfig, run_lifelong
from skill_rl.lifelong.suites import SuiteError, get_suite
from skill_rl.play.dataset import read_play_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cfg(tmp_path: Path, algo: str, **kw) -> LifelongConfig:
    return LifelongConfig(suite="tabletop-micro", algo=algo, debug=True, run_root=str(tmp_path), progress=False, **kw)


@pytest.fixture(scope="module")
def er_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_lifelong(_cfg(tmp_path_factory.mktemp("ll"), "er"))


def test_run_writes_table_plots_and_metrics_from_the_measured_matrix(er_run: dict) -> None:
    run = Path(er_run["run_dir"])
    for name in ("config.yaml", "metrics.csv", "summary.json", "results.json", "results.md",
                 "plots/success_matrix.png", "plots/curves.png", "ckpt/seed100.pt"):
        assert (run / name).is_file(), name
    res = json.loads((run / "results.json").read_text())
    seed = res["seeds"][0]
    curves = np.array(seed["curves"], dtype=float)
    measured = np.array([[np.nan if v is None else v for v in row] for row in seed["conf_measured"]])
    assert curves.shape == (2, 3)  # 2 tasks, evaluations at epochs 0, 1, 2
    assert np.isfinite(measured[1, 0])  # task 0 re-evaluated after learning task 1
    m = metrics_from_curves(curves, measured)
    assert er_run["aggregate"]["auc"]["mean"] == pytest.approx(m.auc)
    assert er_run["aggregate"]["fwt"]["mean"] == pytest.approx(m.fwt)
    assert er_run["aggregate"]["nbt"]["mean"] == pytest.approx(m.nbt)
    assert "| tabletop-micro | er | 1 |" in (run / "results.md").read_text()
    tags = (run / "metrics.csv").read_text()
    assert "seed100/task1/success" in tags and "seed100/task0/loss" in tags


def test_demos_are_play_format_with_language(er_run: dict) -> None:
    files = sorted(Path(er_run["demos_dir"]).glob("*.hdf5"))
    assert [f.name for f in files] == ["lift.hdf5", "reach.hdf5"]
    data = read_play_dataset(files[0])
    assert len(data.demo_names) == 3 and data.states is not None
    assert data.env_args["language"] == "pick up the red cube and lift it"
    assert data.rewards[data.episode_ends - 1].min() == 1.0  # every kept demo ends in success


def test_resume_continues_without_retraining(er_run: dict) -> None:
    again = run_lifelong(LifelongConfig(resume=er_run["run_dir"], progress=False))
    assert again["aggregate"] == er_run["aggregate"]
    assert again["train_s"] == er_run["train_s"]  # nothing was trained again


def test_common_layout_zero_pads_missing_fields(er_run: dict) -> None:
    suite = get_suite("tabletop-micro").subset(2)
    schema = suite_schema(suite, er_run["demos_dir"])
    reach = load_task_data(suite, er_run["demos_dir"], 1, schema, history=2, text_dim=128)
    assert reach.obs.shape[1] == schema.dim
    assert np.all(reach.obs[:, schema.slices["cube_pos"]] == 0)  # reach has no cube
    assert reach.hist.shape[1] == 2 and reach.task_id == 1
    with pytest.raises(DemoError, match="width"):
        ObsSchema.union([{"a": [0, 3]}, {"a": [0, 2]}])


@pytest.mark.parametrize("algo", ["packnet", "multitask"])
def test_other_algorithms_run_end_to_end(tmp_path: Path, algo: str) -> None:
    s = run_lifelong(_cfg(tmp_path, algo, encoder="transformer", history=2))
    assert s["n_tasks"] == 2 and 0.0 <= s["aggregate"]["final_success"]["mean"] <= 1.0
    if algo == "multitask":
        assert s["aggregate"]["auc"]["mean"] is None  # LIBERO reports only success for multitask


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="unknown suite 'tabletop-nope'"):
        get_suite("tabletop-nope")
    with pytest.raises(ValueError, match="multiple of eval_every"):
        LifelongConfig(epochs=7, eval_every=5)
    with pytest.raises(DemoError, match="no demonstrations"):
        run_lifelong(_cfg(tmp_path, "seql", make_demos=False, demos_dir=str(tmp_path / "none")))


@pytest.mark.slow  # spawns two worker processes (torch + MuJoCo imports): ~15-30 s
def test_parallel_evaluation_matches_serial(er_run: dict) -> None:
    """Worker processes rebuild the policy from its state dict (PackNet masks applied) and act exactly as
    in-process evaluation: rollouts start from fixed seeds and the policy is deterministic."""
    import torch

    from skill_rl.lifelong.algos import AlgoConfig, TaskData, make_algo
    from skill_rl.lifelong.evaluation import Evaluator
    from skill_rl.lifelong.policies import PolicyConfig, TaskPolicy, text_features

    suite = get_suite("tabletop-micro").subset(2)
    schema = suite_schema(suite, er_run["demos_dir"])
    torch.manual_seed(0)
    algo = make_algo("packnet", TaskPolicy(PolicyConfig(obs_dim=schema.dim, act_dim=7, hidden=32)),
                     AlgoConfig(post_prune_steps=2))
    data: TaskData = load_task_data(suite, er_run["demos_dir"], 0, schema, 1, 128)
    algo.start_task(0, data, 20)
    for _ in range(20):
        algo.observe(algo.sample(data, 16))
    algo.end_task(0, data)
    jobs = [(k, t.factory, text_features(t.language)) for k, t in enumerate(suite.tasks)]
    serial = Evaluator(schema, 2, 40, workers=1)
    parallel = Evaluator(schema, 2, 40, workers=2)
    try:
        par, ser = parallel.evaluate_stats(algo, jobs), serial.evaluate_stats(algo, jobs)
        assert [p["success"] for p in par] == [s["success"] for s in ser]
        assert [p["steps"] for p in par] == [s["steps"] for s in ser]
        for p, s in zip(par, ser, strict=True):  # same actions: same weights and masks in the workers
            assert p["action_sum"] == pytest.approx(s["action_sum"], rel=1e-5)
            assert p["action_sum"] != 0.0
    finally:
        serial.close()
        parallel.close()


def test_task_order_permutes_the_suite() -> None:
    suite = get_suite("tabletop-micro")
    assert [t.name for t in suite.reordered([2, 0, 1]).subset(2).tasks] == ["push", "lift"]
    with pytest.raises(SuiteError, match="permutation"):
        suite.reordered([0, 0, 1])


def test_replot_from_results(er_run: dict) -> None:
    from skill_rl.lifelong.protocol import replot_run

    run = Path(er_run["run_dir"])
    (run / "plots" / "success_matrix.png").unlink()
    plots = replot_run(run)
    assert Path(plots["success_matrix"]).is_file() and Path(plots["curves"]).is_file()


def test_config_file_states_the_code_defaults() -> None:
    """configs/lifelong.yaml writes out LifelongConfig's defaults (LIBERO's protocol, our policy choices)."""
    import dataclasses

    import yaml

    path = Path(__file__).resolve().parents[1] / "configs" / "lifelong.yaml"
    written = yaml.safe_load(path.read_text(encoding="utf-8"))
    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(LifelongConfig)}
    assert set(written) == set(defaults)
    for key, value in written.items():
        assert value == defaults[key] or (value in ("", None) and defaults[key] in ("", None)), key
    # LIBERO's protocol; the head and history are what single-task BC needs here (docs/lifelong.md)
    assert (written["epochs"], written["eval_every"], written["eval_rollouts"], written["max_steps"]) == (50, 5, 20, 600)
    assert (written["head"], written["history"]) == ("gaussian", 2)
