"""run_discovery: configs, every algo in one code path, checkpoints, resume, corrupted checkpoints, export."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from tests._extras import missing, require

th = require("torch", extra="learn")
require("stable_baselines3", extra="learn")

from skill_rl.config import load_config  # noqa: E402
from skill_rl.discovery.policy import SkillPolicy  # noqa: E402
from skill_rl.discovery.train import (  # noqa: E402
    CheckpointError,
    DiscoveryConfig,
    DiscoveryError,
    build_model,
    evaluate_run,
    find_checkpoints,
    load_checkpoint,
    make_env,
    run_discovery,
)

th.set_num_threads(1)
REPO = Path(__file__).resolve().parent.parent
CONFIGS = ["slim_push", "discovery_slim_sac", "discovery_naive_sum", "discovery_lsd", "discovery_metra",
           "discovery_diayn"]


def _cfg(tmp_path, **kw) -> DiscoveryConfig:
    return DiscoveryConfig(debug=True, run_root=str(tmp_path / "runs"), **kw)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_files_load_and_build(name):
    cfg = load_config(DiscoveryConfig, REPO / "configs" / f"{name}.yaml")
    # the YAML files spell out the class defaults; only algo and run_name differ
    assert dataclasses.replace(cfg, algo="slim", base="ppo", run_name="discovery") == DiscoveryConfig()
    assert name.endswith(cfg.algo) or (name in ("slim_push", "discovery_slim_sac") and cfg.algo == "slim")
    assert cfg.base == ("sac" if name.endswith("_sac") else "ppo")
    env = make_env(cfg)
    model = build_model(dataclasses.replace(cfg, net_arch=[8], phi_hidden=[8], buffer_size=100), env)
    expected_heads = 3 if cfg.algo == "slim" else 1
    assert model.n_heads == expected_heads
    assert model.term_names[0] == "discovery" and "discovery" in model.intrinsic
    assert model.intrinsic_spec["discovery"]["kind"] == (cfg.algo if cfg.algo in ("lsd", "metra", "diayn") else "lsd")
    env.close()


def test_bad_config_is_a_clear_error(tmp_path):
    with pytest.raises(DiscoveryError, match="unknown reward terms"):
        run_discovery(_cfg(tmp_path, terms=["discovery", "fun"]), progress=False)
    with pytest.raises(DiscoveryError, match=r"weights: \['rech'\]"):  # a typo is not ignored
        run_discovery(_cfg(tmp_path, weights={"discovery": 1.0, "rech": 2.0}), progress=False)
    with pytest.raises(DiscoveryError, match="weights.reach must be a finite number"):
        run_discovery(_cfg(tmp_path, weights={"reach": float("nan")}), progress=False)
    assert not any(tmp_path.glob("*/config.yaml"))  # refused before a run folder was made


@pytest.mark.parametrize("base", ["ppo", "sac"])
def test_interrupt_resume_and_corrupted_checkpoint(tmp_path, base):
    cfg = _cfg(tmp_path, algo="slim", base=base)
    first = run_discovery(cfg, progress=False, stop_after=200)
    assert not first["completed"] and first["num_timesteps"] == 200
    run_dir = Path(first["run_dir"])
    assert [p.name for p in find_checkpoints(run_dir / "ckpt")] == ["step_000000100.zip", "step_000000200.zip"]
    assert (run_dir / "ckpt" / "step_000000200.buffer.pkl").is_file() == (base == "sac")  # PPO has no replay

    # a corrupted latest checkpoint: clear error naming the file; the previous one is intact and usable
    latest = run_dir / "ckpt" / "step_000000200.zip"
    good = latest.read_bytes()
    latest.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="step_000000200.zip"):
        run_discovery(dataclasses.replace(cfg, resume=str(run_dir)), progress=False)
    prev = load_checkpoint(run_dir / "ckpt" / "step_000000100.zip", base=base)
    assert prev.num_timesteps == 100 and (base == "ppo" or prev.replay_buffer.size() == 100)
    latest.write_bytes(good)

    with pytest.raises(DiscoveryError, match="config.yaml"):  # resuming with another algorithm's config
        run_discovery(dataclasses.replace(cfg, algo="lsd", resume=str(run_dir)), progress=False)
    second = run_discovery(dataclasses.replace(cfg, resume=str(run_dir)), progress=False)
    assert second["completed"] and second["num_timesteps"] == 300 and second["run_dir"] == str(run_dir)
    assert set(second["eval"]) >= {"object_coverage", "skill_distinctness", "safety_violation_rate",
                                   "mean_object_displacement", "grasp_consistency"}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["num_timesteps"] == 300
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    steps = [int(r["step"]) for r in rows if r["tag"] == "episode/reach_return"]
    assert steps == sorted(steps) and max(steps) > 200  # logging continued after the resume
    loss_tag = "train/critic_loss_head2" if base == "sac" else "train/value_loss_head2"
    assert any(r["tag"].startswith(loss_tag) for r in rows)
    assert any(r["tag"] == "episode/discovery_return" for r in rows)
    assert set(second["episode_returns"]) == {"discovery", "reach", "safety"}
    assert any(r["tag"] == "eval/object_coverage" for r in rows)


def test_exported_skill_policy_save_load_same_action(tmp_path):
    summary = run_discovery(_cfg(tmp_path, algo="lsd"), progress=False)
    policy = SkillPolicy.load(summary["skill_policy"])
    model = load_checkpoint(summary["checkpoint"], replay_buffer=False)
    rng = np.random.default_rng(0)
    base_dim = model.observation_space.shape[0] - policy.n_skills
    for skill in range(policy.n_skills):
        obs = rng.standard_normal(base_dim).astype(np.float32)
        full = np.concatenate([obs, policy.skill_vector(skill)])
        expected, _ = model.predict(full, deterministic=True)
        np.testing.assert_allclose(policy.act(obs, skill), expected, rtol=0, atol=1e-6)
    # round trip through save again
    again = SkillPolicy.load(policy.save(tmp_path / "copy.pt"))
    np.testing.assert_array_equal(again.act(obs, 1), policy.act(obs, 1))
    # the exported file holds the actor only
    saved = th.load(summary["skill_policy"], weights_only=False)
    assert not any(k.startswith(("critic", "qf")) for k in saved["state_dict"])


@pytest.mark.parametrize(("algo", "discrete"), [("naive_sum", True), ("diayn", True), ("slim", False),
                                                ("metra", False), ("slim_ppo", True),
                                                ("slim_sac", True), ("naive_sum_sac", True)])
def test_other_algos_run_in_debug_mode(tmp_path, algo, discrete):
    base = "sac" if algo.endswith("_sac") else "ppo"
    algo = algo.removesuffix("_sac")
    summary = run_discovery(_cfg(tmp_path, algo=algo, base=base, discrete_skills=discrete, video=False),
                            progress=False)
    assert summary["completed"] and summary["num_timesteps"] == 300
    assert np.isfinite(summary["eval"]["object_coverage"])
    assert 0.0 <= summary["eval"]["skill_classifier_accuracy"] <= 1.0


def test_run_writes_plots_and_skill_video(tmp_path):
    summary = run_discovery(_cfg(tmp_path, algo="slim", base="sac", discovery="metra", critic_layout="shared"),
                            progress=False)
    run = Path(summary["run_dir"])
    assert (run / "plots" / "end_positions.png").stat().st_size > 1000
    assert (run / "plots" / "reward_terms.png").stat().st_size > 1000
    assert [s["skill"] for s in summary["per_skill"]] == [0, 1]
    # --eval: the same policy evaluated again from its checkpoint gives the same metrics, in its own folder
    again = evaluate_run(summary["checkpoint"], video=False)
    assert again["eval"] == pytest.approx(summary["eval"], nan_ok=True)
    assert Path(again["eval_dir"]).parent == run and (Path(again["eval_dir"]) / "summary.json").is_file()
    with pytest.raises(DiscoveryError, match="no config.yaml"):
        evaluate_run(tmp_path)
    if "video_error" in summary:
        missing(f"no renderer here: {summary['video_error']}", extra="render")
    assert (run / "videos" / "skills.mp4").stat().st_size > 1000
    assert json.loads((run / "summary.json").read_text())["video"] == summary["video"]


def test_checkpoint_keeps_discovery_networks_and_critics(tmp_path):
    from skill_rl.discovery.train import save_checkpoint

    cfg = dataclasses.replace(_cfg(tmp_path, base="sac"), net_arch=[8], phi_hidden=[8], learning_starts=10, batch_size=8)
    env = make_env(cfg)
    model = build_model(cfg, env)
    model.learn(40)
    path = save_checkpoint(model, tmp_path / "ckpt", keep=2, replay_buffer=True)
    loaded = load_checkpoint(path, base="sac")
    for name in ("critic", "critic_target", "actor"):
        th.testing.assert_close(getattr(loaded, name).state_dict(), getattr(model, name).state_dict())
    th.testing.assert_close(loaded.intrinsic.state_dict(), model.intrinsic.state_dict())
    opt_a = loaded.intrinsic["discovery"].optimizer.state_dict()["state"]
    opt_b = model.intrinsic["discovery"].optimizer.state_dict()["state"]
    assert opt_a.keys() == opt_b.keys() and len(opt_a) > 0
    assert loaded.n_heads == 3 and loaded.term_names == model.term_names
    np.testing.assert_array_equal(loaded.q_scale, model.q_scale)
    assert loaded.replay_buffer.size() == model.replay_buffer.size()
    env.close()


def test_ppo_naive_sum_checkpoint_keeps_its_head_matrix(tmp_path):
    """naive sum on PPO: one value head on the weighted sum of the terms, kept through save/load."""
    from skill_rl.discovery.train import save_checkpoint

    cfg = dataclasses.replace(_cfg(tmp_path, algo="naive_sum", weights={"discovery": 1.0, "reach": 2.0, "safety": 0.5}),
                              net_arch=[8], phi_hidden=[8], n_steps=32, batch_size=16, n_epochs=1)
    env = make_env(cfg)
    model = build_model(cfg, env)
    assert model.n_heads == 1 and model.policy.value_net.out_features == 1
    model.learn(32)
    np.testing.assert_allclose(model.rollout_buffer.rewards[..., 0],
                               model.rollout_buffer.term_rewards @ np.array([1.0, 2.0, 0.5], np.float32), rtol=1e-6)
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "ckpt", keep=1, replay_buffer=False))
    np.testing.assert_array_equal(loaded.head_matrix, model.head_matrix)
    assert loaded.n_heads == 1 and loaded.term_names == ["discovery", "reach", "safety"]
    env.close()


def test_legacy_slim_ppo_algo_reads_as_slim_on_ppo(tmp_path):
    """Run folders written before ``base`` existed say ``algo: slim_ppo``; they still load, as slim on PPO."""
    legacy = tmp_path / "config.yaml"
    legacy.write_text("algo: slim_ppo\n")
    cfg = load_config(DiscoveryConfig, legacy)
    assert (cfg.algo, cfg.base) == ("slim", "ppo")
    with pytest.raises(Exception, match="base"):
        load_config(DiscoveryConfig, REPO / "configs" / "slim_push.yaml", ["base=ddpg"])
