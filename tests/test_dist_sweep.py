"""`skill-rl sweep` on a local Ray (2 CPUs): trials are run folders, results aggregate, a killed trial
restarts and resumes from its own checkpoint; bad input is one error line."""

from __future__ import annotations

import csv
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests._extras import require

ray = require("ray", extra="dist")
require("ray.tune", extra="dist")

from skill_rl.cli import app  # noqa: E402
from skill_rl.config import ConfigError, load_config  # noqa: E402
from skill_rl.dist.sweep import (  # noqa: E402
    SweepConfig,
    SweepError,
    load_sweep_config,
    read_attempts,
    run_sweep,
    trial_configs,
)

REPO = Path(__file__).resolve().parent.parent
SWEEP_YAML = REPO / "configs" / "sweeps" / "slim_weights.yaml"
# tiny discovery trials: 20-step episodes, small nets, 2 skills x 2 evaluation starts, no video
TINY = ["fixed.env_options={max_episode_steps: 20}", "fixed.eval_episodes_per_skill=2", "fixed.video=false",
        "fixed.net_arch=[32,32]", "fixed.phi_hidden=[32,32]", "fixed.batch_size=32", "fixed.n_skills=2",
        "fixed.buffer_size=5000", "progress=false",
        "fixed.base=sac"]  # SAC: exact step counts and a checkpoint every few steps (PPO rounds up to whole rollouts)


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs and no dashboard for the module; shut down afterwards."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    assert not ray.is_initialized()


def _read_summary(run_dir: str) -> dict:
    return json.loads((Path(run_dir) / "summary.json").read_text())


def test_sweep_cli_two_trials_write_run_folders_and_one_table(local_ray, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["sweep", "--config", str(SWEEP_YAML), "--debug", f"storage={tmp_path}",
                                   "fixed.total_steps=150", "fixed.learning_starts=120", *TINY],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    (sweep_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    for name in ("config.yaml", "summary.json", "results.md", "results.csv", "results.json", "plots/sweep.png"):
        assert (sweep_dir / name).is_file(), name
    res_json = json.loads((sweep_dir / "results.json").read_text())
    trials = res_json["trials"]
    # --debug: the first two values of the first swept key, the first value of the others, one seed
    assert sorted(t["params"]["weights.reach"] for t in trials) == [0.5, 1.0]
    assert {t["params"]["weights.safety"] for t in trials} == {0.5}
    assert {t["seed"] for t in trials} == {0}
    assert [t["status"] for t in trials] == ["ok", "ok"]
    for t in trials:  # each trial is an ordinary discovery run folder, under the sweep folder
        run = Path(t["run_dir"])
        assert run.parent.parent == sweep_dir / "trials"
        s = _read_summary(t["run_dir"])
        assert s["completed"] and s["num_timesteps"] == 150
        assert (run / "skill_policy.pt").is_file() and list((run / "ckpt").glob("step_*.zip"))
        from skill_rl.discovery.train import DiscoveryConfig

        cfg = load_config(DiscoveryConfig, run / "config.yaml")
        assert cfg.weights["reach"] == t["params"]["weights.reach"] and cfg.seed == 0 and cfg.debug
        assert t["metrics"]["object_coverage"] == s["eval"]["object_coverage"]  # the table is the runs' own
        assert t["attempts"] == 1
    groups = res_json["groups"]
    assert len(groups) == 2 and all(g["n"] == 1 and g["failed"] == 0 for g in groups)
    with open(sweep_dir / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {r["status"] for r in rows} == {"ok"}
    md = (sweep_dir / "results.md").read_text()
    assert "weights.reach=0.5, weights.safety=0.5" in md and "weights.reach=1, weights.safety=0.5" in md
    assert "object_coverage" in md and "Best:" in md
    assert "sweep folder:" in res.output
    assert ray.is_initialized()  # the sweep used the running Ray and left it running


def _kill_first_trial_after_checkpoint(sweep_root: Path, killed: dict, stop: threading.Event) -> None:
    """Watch the trials' run folders; SIGKILL the worker of the first trial that has a checkpoint at a step
    > 0 and is still running (pid from the marker the trial writes: trials/<id>/attempts.jsonl)."""
    while not stop.is_set():
        for ckpt in sorted(sweep_root.glob("*/trials/*/*/ckpt/step_*.zip")):
            trial_root, run = ckpt.parent.parent.parent, ckpt.parent.parent
            step = int(ckpt.stem.split("_")[1])
            attempts = read_attempts(trial_root)
            if step > 0 and len(attempts) == 1 and not (run / "summary.json").exists():
                os.kill(attempts[0]["pid"], signal.SIGKILL)
                killed.update(trial=trial_root.name, pid=attempts[0]["pid"], run=str(run), step=step)
                return
        time.sleep(0.05)


def _run_sweep_killing_first_trial(cfg: SweepConfig, storage: Path) -> tuple[dict, dict]:
    """Run the sweep while a watcher SIGKILLs the first trial's worker once it has a checkpoint; returns the
    summary and what was killed (trial, pid, run folder, checkpoint step; empty if nothing was)."""
    killed: dict = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_kill_first_trial_after_checkpoint, args=(storage, killed, stop), daemon=True)
    watcher.start()
    try:
        return run_sweep(cfg), killed
    finally:
        stop.set()
        watcher.join(5)


def test_killed_trial_restarts_and_resumes_from_its_checkpoint(local_ray, tmp_path: Path) -> None:
    total = 600
    cfg = load_sweep_config(SWEEP_YAML, [
        f"storage={tmp_path}", "params={weights.reach: [0.5, 2.0]}", "seeds=[0]", "max_failures=2",
        f"fixed.total_steps={total}", "fixed.learning_starts=100", "fixed.checkpoint_every=50", *TINY])
    summary, killed = _run_sweep_killing_first_trial(cfg, tmp_path)
    assert killed, "no trial was killed (it finished before a checkpoint was seen?)"
    assert summary["n_trials"] == 2 and summary["n_failed"] == 0 and summary["restarts"] == 1
    res = json.loads((Path(summary["sweep_dir"]) / "results.json").read_text())
    by_id = {t["trial_id"]: t for t in res["trials"]}
    victim = by_id[killed["trial"]]
    attempts = read_attempts(Path(summary["sweep_dir"]) / "trials" / killed["trial"])
    assert len(attempts) == 2 and attempts[0]["pid"] == killed["pid"] != attempts[1]["pid"]
    assert attempts[0]["resumed_run"] is None
    # the restart resumed the same run folder from a checkpoint at or after the one seen before the kill
    assert attempts[1]["resumed_run"] == killed["run"]
    assert attempts[1]["resumed_from_step"] >= killed["step"] > 0
    assert victim["run_dir"] == killed["run"] and victim["status"] == "ok" and victim["attempts"] == 2
    s = _read_summary(victim["run_dir"])
    assert s["completed"] and s["num_timesteps"] == total
    other = next(t for tid, t in by_id.items() if tid != killed["trial"])
    assert other["attempts"] == 1 and _read_summary(other["run_dir"])["num_timesteps"] == total
    assert "| 1 |" in (Path(summary["sweep_dir"]) / "results.md").read_text()  # the restart shows in the table


def test_errored_trial_is_rerun_by_resume_and_continues_its_run(local_ray, tmp_path: Path) -> None:
    """max_failures=0: the killed trial ends the sweep as failed (one row says so); `--resume` of the sweep
    folder (Tuner.restore) runs it again, and it continues its run folder from the checkpoint."""
    cfg = load_sweep_config(SWEEP_YAML, [
        f"storage={tmp_path}", "params={weights.reach: [1.0]}", "seeds=[0]", "max_failures=0",
        "fixed.total_steps=400", "fixed.learning_starts=100", "fixed.checkpoint_every=50", *TINY])
    first, killed = _run_sweep_killing_first_trial(cfg, tmp_path)
    assert killed and first["n_failed"] == 1
    assert "error" in (Path(first["sweep_dir"]) / "results.md").read_text()
    again = run_sweep(SweepConfig(resume=first["sweep_dir"], progress=False))
    assert again["sweep_dir"] == first["sweep_dir"] and again["n_failed"] == 0
    attempts = read_attempts(Path(first["sweep_dir"]) / "trials" / killed["trial"])
    assert len(attempts) == 2 and attempts[1]["resumed_run"] == killed["run"]
    assert attempts[1]["resumed_from_step"] >= killed["step"] > 0
    assert _read_summary(killed["run"])["num_timesteps"] == 400


def test_lifelong_sweep_debug(local_ray, tmp_path: Path) -> None:
    """The lifelong runner: each trial is a `skill-rl lifelong run` folder; FWT/NBT/AUC aggregate."""
    sweep = tmp_path / "ll.yaml"
    sweep.write_text(f"runner: lifelong\nbase_config: {REPO / 'configs' / 'lifelong.yaml'}\n"
                     "fixed: {suite: tabletop-micro, max_steps: 30}\nparams: {algo: [seql, er]}\nseeds: [100]\n")
    cfg = load_sweep_config(sweep, [f"storage={tmp_path / 'out'}", "debug=true", "progress=false"])
    summary = run_sweep(cfg)
    assert summary["n_trials"] == 2 and summary["n_failed"] == 0 and summary["metric"] == "auc"
    res = json.loads((Path(summary["sweep_dir"]) / "results.json").read_text())
    for t in res["trials"]:
        run = _read_summary(t["run_dir"])
        assert run["algo"] == t["params"]["algo"] and run["seeds"] == [100]
        assert t["metrics"]["auc"] == pytest.approx(run["aggregate"]["auc"]["mean"])
        assert Path(t["run_dir"], "results.md").is_file()
    assert sorted(g["label"] for g in res["groups"]) == ["algo=er", "algo=seql"]


def _error_line(res) -> str:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (["params={wieghts.reach: [1, 2]}"], "unknown config key 'wieghts' (did you mean 'weights'?)"),
    (["fixed.algo=slimm"], "config key 'algo': expected one of"),
    (["runner=discovry"], "unknown sweep runner 'discovry' (did you mean 'discovery'?)"),
    (["--address", "not an address"], "bad Ray address 'not an address'"),
    (["serach=random"], "unknown config key 'serach' (did you mean 'search'?)"),
    (["params={weights.reach: {normal: [0, 1]}}", "search=random"], "unknown distribution 'normal'"),
    (["params={weights.reach: {uniform: [0, 1]}}"], "a grid search needs a non-empty list"),
    (["params={seed: [1, 2]}"], "the seed is swept by `seeds`"),
    (["metric=coverage"], "unknown discovery metric 'coverage'; available: object_coverage"),
])
def test_bad_sweep_input_is_one_error_line_before_ray_starts(tmp_path: Path, args: list[str], message: str) -> None:
    was_running = ray.is_initialized()
    res = CliRunner().invoke(app, ["sweep", "--config", str(SWEEP_YAML), f"storage={tmp_path}", *args],
                             env={"COLUMNS": "300"})
    assert message in _error_line(res)
    assert ray.is_initialized() == was_running
    assert not any(tmp_path.iterdir())  # nothing was started


def test_unreachable_address_fails_in_seconds_and_leaves_nothing(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    res = CliRunner().invoke(app, ["sweep", "--config", str(SWEEP_YAML), "--debug", "--address", f"127.0.0.1:{port}",
                                   f"storage={tmp_path}"], env={"COLUMNS": "300"})
    assert f"cannot connect to Ray at '127.0.0.1:{port}': nothing answers" in _error_line(res)
    assert not any(tmp_path.iterdir())


def test_random_search_samples_are_reproducible_and_shared_by_seeds() -> None:
    cfg = SweepConfig(params={"weights.reach": {"loguniform": [0.1, 10.0]}, "weights.safety": [0.5, 1.0]},
                      search="random", num_samples=3, seeds=[0, 1], search_seed=5)
    _, _, grid, seed_key = trial_configs(cfg)
    _, _, again, _ = trial_configs(cfg)
    assert grid == again and len(grid) == 3 and seed_key == "seed"
    assert all(0.1 <= g["weights.reach"] <= 10.0 and g["weights.safety"] in (0.5, 1.0) for g in grid)
    with pytest.raises(SweepError, match="seeds lists a seed twice"):
        trial_configs(SweepConfig(seeds=[1, 1]))
    with pytest.raises(ConfigError, match="sweep params"):
        trial_configs(SweepConfig(params={"total_steps": [100, "many"]}))


def test_base_config_resolves_against_the_sweep_file_from_any_directory(tmp_path: Path, monkeypatch) -> None:
    """`base_config: ../slim_push.yaml` in configs/sweeps/ works whatever the working directory; stored
    absolute (so --resume finds it); a missing one is an error naming where it looked."""
    monkeypatch.chdir(tmp_path)
    cfg = load_sweep_config(SWEEP_YAML)
    assert Path(cfg.base_config) == REPO / "configs" / "slim_push.yaml"
    trial_configs(cfg)  # the base config loads and every trial config builds
    (tmp_path / "mine.yaml").write_text("runner: discovery\nbase_config: nowhere/slim.yaml\n")
    with pytest.raises(SweepError, match=r"base_config 'nowhere/slim.yaml' not found \(looked for "):
        load_sweep_config(tmp_path / "mine.yaml")


def test_aggregate_reports_the_sample_std_over_seeds():
    from skill_rl.dist.sweep import aggregate_trials

    trials = [{"params": {"lr": 1e-3}, "seed": s, "status": "ok", "metrics": {"ret": v}} for s, v in ((0, 1.0), (1, 3.0))]
    (group,) = aggregate_trials(trials, ["ret"])
    assert group["metrics"]["ret"]["mean"] == 2.0
    assert abs(group["metrics"]["ret"]["std"] - 2 ** 0.5) < 1e-12  # ddof=1: sqrt(2), not the population 1.0
