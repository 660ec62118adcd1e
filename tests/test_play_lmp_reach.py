"""Reach-from-play in TabletopPlay-v0 (MuJoCo): the evaluation harness, and a small trained Play-LMP policy
beating a uniform-random one (slow: ~10 s of collection + training + rollouts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from skill_rl.play.collect import PlayCollectConfig, collect_play
from skill_rl.play.policy import LatentPlanPolicy
from skill_rl.play.train import PlayEvalConfig, PlayTrainConfig, eval_play, evaluate_reach, train_play

EEF = slice(14, 17)  # TabletopPlay-v0 obs_layout["eef_pos"], metres, world frame
MAX_EE_STEP_M = 0.05  # TabletopConfig.max_ee_step_m


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


class ReachOracle:
    """Moves the end effector straight at the goal's end-effector position (ee_delta controller)."""

    def reset(self) -> None:
        pass

    def act(self, obs, goal):
        a = np.zeros(7, np.float32)
        a[:3] = np.clip((goal[EEF] - obs[EEF]) / MAX_EE_STEP_M, -1, 1)
        return a


@pytest.fixture(scope="module")
def play_file(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("play")
    cfg = PlayCollectConfig(hours_of_play=2000 / 72000, episode_steps=300, run_root=str(root), run_name="pd")
    return collect_play(cfg, progress=False)["dataset"]


def test_harness_oracle_succeeds_random_fails(play_file):
    oracle = evaluate_reach(ReachOracle(), play_file, trials=10, horizon=40)
    random = evaluate_reach(None, play_file, trials=10, horizon=40)
    assert oracle["start_mismatch"] < 1e-4  # restarting from the recorded seed reproduces the first frame
    assert oracle["success_rate"] == 1.0 and random["success_rate"] <= 0.2


@pytest.mark.slow
def test_small_lmp_reaches_play_goals_better_than_random(play_file, tmp_path):
    summary = train_play(PlayTrainConfig(
        # a reach goal is about the gripper: the whole observation as goal, relabelled at the window's end
        algo="lmp", dataset=play_file, goal="last", goal_keys=[], window=16, min_window=8, hidden=64, rnn_hidden=32, latent_dim=8, n_mix=3,
        steps=600, batch_size=32, lr=2e-3, run_root=str(tmp_path), progress=False, threads=1, log_every=100))
    assert summary["final"]["nll"] < summary["first"]["nll"] - 5.0
    policy = LatentPlanPolicy.load(summary["policy"], deterministic=True)
    kw = dict(trials=30, horizon=60, tol_m=0.05)
    learned, random = evaluate_reach(policy, play_file, **kw), evaluate_reach(None, play_file, **kw)
    assert learned["success_rate"] >= 0.3 and learned["success_rate"] > random["success_rate"] + 0.2, (
        learned["success_rate"], random["success_rate"])
    assert learned["final_distance_m"] < random["final_distance_m"]
    # the eval entry point on the same policy (debug: 2 short trials) writes its run
    out = eval_play(PlayEvalConfig(policy=summary["policy"], run_root=str(tmp_path), debug=True))
    assert Path(out["run_dir"], "summary.json").is_file() and 0.0 <= out["success_rate"] <= 1.0


@pytest.mark.parametrize(("latent_dim", "prior_rows"), [(0, 0.0), (8, 0.0), (8, 0.5)],
                         ids=["gcbc", "lmp", "lmp-prior-rows"])
def test_core_gcbc_with_hindsight_goals_reaches_play_goals_better_than_random(play_file, tmp_path, latent_dim,
                                                                              prior_rows):
    """Rung c's learner (the imitation core's BC on play, each row's goal a later frame of its episode) and rung
    d's (the same with a latent plan from play windows, and with half its rows acted on under the proposal's
    plan): each reaches gripper goals taken from the play file far more often than random actions."""
    from skill_rl.play.ladder import BCRecipe, train_bc

    recipe = BCRecipe(hidden=64, steps=800, batch_size=64, lr=2e-3, goal_keys=["eef_pos"], goal_delta=True,
                      hindsight=[4, 20], latent_dim=latent_dim, plan_steps=4, prior_rows=prior_rows)
    policy, summary = train_bc([play_file], recipe, seed=0, goal=True)
    assert summary["final"]["nll"] < summary["first"]["nll"]
    kw = dict(trials=30, horizon=60, tol_m=0.05)
    learned, random = evaluate_reach(policy, play_file, **kw), evaluate_reach(None, play_file, **kw)
    assert learned["success_rate"] >= 0.3 and learned["success_rate"] > random["success_rate"] + 0.2, (
        learned["success_rate"], random["success_rate"])
    assert learned["final_distance_m"] < random["final_distance_m"]


@pytest.mark.parametrize("latent_dim", [0, 4], ids=["gcbc", "lmp"])
def test_rest_relabelling_trains_rungs_c_and_d_through_the_ladder(play_file, latent_dim):
    """``relabel="rest"``: the play rows' goals are where the objects come to rest (DemoSet.rest_goals), rows with
    none ahead are not trained on, and Play-LMP's windows end at those goals; a bad mode is refused by name."""
    from skill_rl.play.ladder import BCRecipe, load_demos, train_bc

    recipe = BCRecipe(hidden=32, steps=20, batch_size=32, hindsight=[1, 60], relabel="rest", latent_dim=latent_dim,
                      plan_steps=4, rest_stay=5)
    demos, _ = load_demos([play_file], 2, goal=True, hindsight=recipe.hindsight, rest=recipe)
    assert demos.goal_rows is not None and 0 < len(demos) < len(demos.obs)
    rows = demos.rows
    ahead = demos.goal_rows[rows] > rows  # a goal ahead, or a stay: the rest the row is in (at most 5 rows back)
    assert ahead.any() and (~ahead).any() and (rows[~ahead] - demos.goal_rows[rows[~ahead]] < 5).all()
    _, summary = train_bc([play_file], recipe, seed=0, goal=True)
    assert summary["train_samples"] == len(demos) and np.isfinite(summary["final"]["nll"])
    with pytest.raises(ValueError, match="relabel"):
        BCRecipe(relabel="segments")
    # rest_away: rests while the arm stays at what moved are no goals, so fewer distinct goals, none new
    away = BCRecipe(**{**recipe.to_dict(), "rest_away": 0.1})
    demos_away, _ = load_demos([play_file], 2, goal=True, hindsight=away.hindsight, rest=away)
    assert set(demos_away.goal_rows[demos_away.rows]) < set(demos.goal_rows[rows]) | {-1}
    # rest_before_approach="drop": rows before the arm's approach to what moves next are not trained on
    drop = BCRecipe(**{**away.to_dict(), "rest_before_approach": "drop"})
    demos_drop, _ = load_demos([play_file], 2, goal=True, hindsight=drop.hindsight, rest=drop)
    assert 0 < len(demos_drop) < len(demos_away)
    # "far": rows far from what moves next and not closing in on it become stays (their own frame), none dropped
    far = BCRecipe(**{**away.to_dict(), "rest_before_approach": "far"})
    demos_far, _ = load_demos([play_file], 2, goal=True, hindsight=far.hindsight, rest=far)
    own = [int((d.goal_rows[d.rows] == d.rows).sum()) for d in (demos_away, demos_far)]
    assert len(demos_far) == len(demos_away) and own[1] > own[0]
    # lift peaks (the player lifts and puts back) re-aim rows at an earlier frame ahead of them; none gained or lost
    lift = BCRecipe(**{**far.to_dict(), "rest_lift_rise": 0.05})
    demos_lift, _ = load_demos([play_file], 2, goal=True, hindsight=lift.hindsight, rest=lift)
    moved = np.flatnonzero(demos_lift.goal_rows != demos_far.goal_rows)
    assert len(moved) and len(demos_lift) == len(demos_far) and (demos_lift.goal_rows[moved] > moved).all()
    assert (demos_lift.goal_rows[moved] < demos_far.goal_rows[moved]).all()
    with pytest.raises(ValueError, match="rest_before_approach"):
        BCRecipe(rest_before_approach="skip")


def test_arm_distances_measure_the_arm_to_each_goal_key(play_file):
    """``arm_distances``: metres from the gripper to each goal key's position (quat -> its pos, the drawer ->
    its handle), a column per key; keys without a position are refused by name."""
    from skill_rl.play.dataset import read_play_dataset
    from skill_rl.play.train import PlayTrainError, arm_distances

    data = read_play_dataset(play_file, load_states=False)
    dist, groups = arm_distances(data, ["cube_red_quat", "cabinet_opening"])
    assert dist.shape == (len(data.actions), 2) and groups == [0, 0, 0, 0, 1]
    np.testing.assert_allclose(dist[:, 0], np.linalg.norm(data.obs["cube_red_to_eef"], axis=1), atol=1e-4)
    np.testing.assert_allclose(dist[:, 1], np.linalg.norm(data.obs["cabinet_handle_pos"] - data.obs["eef_pos"],
                                                          axis=1), atol=1e-6)
    with pytest.raises(PlayTrainError, match="region_pos_x"):
        arm_distances(data, ["region_pos_x"])
