"""Scripted expert demos of the named play tasks (per-task BC) and the goal features of the play models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skill_rl.play.dataset import read_play_dataset
from skill_rl.play.models import ActorConfig, PlanActor, PlayBatch, PlayGCBC, PlayLMP
from skill_rl.play.policy import LatentPlanPolicy


@pytest.mark.parametrize("delta", [False, True])
def test_goal_index_uses_only_the_goal_features(delta):
    """Changing goal features outside ``goal_index`` changes nothing; inside it changes the action."""
    torch.manual_seed(0)
    D = 6
    for latent in (0, 3):
        actor = PlanActor(ActorConfig(obs_dim=D, act_dim=2, latent_dim=latent, hidden=16, n_mix=2, n_bins=32,
                                      goal_index=[1, 4], goal_delta=delta))
        assert actor.cfg.goal_dim == (4 if delta else 2)
        policy = LatentPlanPolicy(actor, deterministic=True)
        obs, goal = np.zeros(D, np.float32), np.ones(D, np.float32)
        policy.reset()
        a = policy.act(obs, goal)
        other = goal.copy()
        other[[0, 2, 3, 5]] = -5.0
        policy.reset()
        np.testing.assert_array_equal(policy.act(obs, other), a)
        moved = goal.copy()
        moved[4] = -5.0
        policy.reset()
        assert not np.allclose(policy.act(obs, moved), a)


def test_goal_index_losses_run_and_bad_index_is_rejected():
    B, T, D = 4, 5, 6
    batch = PlayBatch(torch.randn(B, T, D), torch.rand(B, T, 2) * 2 - 1, torch.randn(B, D),
                      torch.ones(B, T, dtype=torch.bool))
    cfg = ActorConfig(obs_dim=D, act_dim=2, latent_dim=3, hidden=16, n_mix=2, n_bins=32, goal_index=[0, 5],
                      goal_delta=True)
    for model in (PlayLMP(cfg, rnn_hidden=8), PlayGCBC(cfg)):
        out = model.loss(batch, 0.01)
        assert torch.isfinite(out.total)
        out.total.backward()
    with pytest.raises(ValueError, match="goal_index"):
        ActorConfig(obs_dim=D, act_dim=2, goal_index=[6])


def _dataset_with_layout(path, layout: dict[str, list[int]]):
    """A one-episode play file whose observation has the fields of ``layout`` (name -> [start, end])."""
    from skill_rl.play.dataset import PlayDatasetWriter

    width = max(end for _, end in layout.values())
    with PlayDatasetWriter(path, {"obs_layout": layout}, compression=None) as w:
        w.add_episode(np.zeros((4, width), np.float32), np.zeros((4, 1), np.float32))
    return read_play_dataset(path)


def test_goal_keys_select_layout_fields_and_unknown_key_is_an_error(tmp_path):
    from skill_rl.play.train import PLAY_GOAL_KEYS, PlayTrainError, goal_index

    data = _dataset_with_layout(tmp_path / "p.hdf5", {"a": [0, 2], "b": [2, 5]})
    assert goal_index(data, ["b"]) == [2, 3, 4] and goal_index(data, []) is None
    assert goal_index(data, list(PLAY_GOAL_KEYS)) is None  # the default on another scene: whole observation
    with pytest.raises(PlayTrainError, match="goal_keys"):
        goal_index(data, ["b", "zzz"])


def test_ignored_features_change_nothing_and_the_export_ignores_them_too(tmp_path):
    """Obs features in ``ignore_index`` (the joint velocities by default) never reach the proposal or the
    policy, in the obs or in the goal, also in the TorchScript export; other features do."""
    from skill_rl.play.export import torchscript_modules

    torch.manual_seed(0)
    D = 6
    for latent in (0, 3):
        actor = PlanActor(ActorConfig(obs_dim=D, act_dim=2, latent_dim=latent, hidden=16, n_mix=2, n_bins=32,
                                      ignore_index=[2, 3]))
        actor.set_normaliser(torch.zeros(D), torch.full((D,), 0.5))
        policy = LatentPlanPolicy(actor, deterministic=True)
        obs, goal = np.zeros(D, np.float32), np.ones(D, np.float32)
        policy.reset()
        a = policy.act(obs, goal)
        for changed in ((obs + [0, 0, 7, -7, 0, 0], goal), (obs, goal + [0, 0, 7, -7, 0, 0])):
            policy.reset()
            np.testing.assert_array_equal(policy.act(*(x.astype(np.float32) for x in changed)), a)
        policy.reset()
        assert not np.allclose(policy.act(obs + np.float32([3, 0, 0, 0, 0, 0]), goal), a)
        modules = torchscript_modules(policy)
        o = torch.tensor(obs + [0, 0, 7, -7, 0, 0], dtype=torch.float32).unsqueeze(0)
        g = torch.tensor(goal).unsqueeze(0)
        if latent:
            out = modules["policy.pt"](o, g, modules["proposal.pt"](o, g))
        else:
            out = modules["policy.pt"](o, g)
        np.testing.assert_allclose(out.detach().numpy()[0], a, atol=1e-5)
    with pytest.raises(ValueError, match="ignore_index"):
        ActorConfig(obs_dim=D, act_dim=2, ignore_index=[6])


def test_ignore_obs_keys_select_layout_fields_the_default_is_skipped_where_absent(tmp_path):
    from skill_rl.play.train import PLAY_IGNORE_KEYS, PlayTrainError, ignore_index

    data = _dataset_with_layout(tmp_path / "p.hdf5", {"a": [0, 2], "joint_vel": [2, 5]})
    assert ignore_index(data, list(PLAY_IGNORE_KEYS)) == [2, 3, 4] and ignore_index(data, []) == []
    assert ignore_index(data, ["a"]) == [0, 1]
    with pytest.raises(PlayTrainError, match="ignore_obs_keys"):
        ignore_index(data, ["zzz"])
    no_vel = _dataset_with_layout(tmp_path / "q.hdf5", {"a": [0, 2]})  # robomimic, the point mass: nothing ignored
    assert ignore_index(no_vel, list(PLAY_IGNORE_KEYS)) == []


@pytest.mark.parametrize("name", ["push_red_left", "lift_blue", "open_drawer"])
def test_task_demos_succeed_and_end_at_their_goal(tmp_path, name):
    from skill_rl.play.demos import collect_task_demos
    from skill_rl.play.tasks import TASKS, make_play_env, sample_episodes

    task = TASKS[name]
    out = collect_task_demos(task, tmp_path / "d.hdf5", 3, seed=1, action_noise=0.1)
    assert out["demos"] == 3
    data = read_play_dataset(out["dataset"])
    assert len(data.demo_names) == 3 and data.env_args["demos_of_task"] == name
    ends = data.episode_ends - 1
    assert np.allclose(data.actions[ends, :6], 0.0)  # the final row: the goal, with a "stay" action
    env = make_play_env()
    eval_seeds = {ep.seed for ep in sample_episodes(task, env, 3, seed=0)}
    env.close()
    import h5py

    with h5py.File(out["dataset"]) as f:
        demo_seeds = {int(f["data"][d].attrs["seed"]) for d in data.demo_names}
    assert not demo_seeds & eval_seeds  # demos start from other scenes than the evaluation episodes


def test_demos_record_the_intended_action_and_execute_the_noisy_one(tmp_path):
    """DART (the default): each recorded action is the noise-free primitive's action at the recorded observation
    (replayed through a fresh primitive), while the executed one had noise (the states drift off the clean run)."""
    from skill_rl.play.demos import collect_task_demos
    from skill_rl.play.tasks import TASKS, make_play_env, reset_task, scripted_primitive

    task = TASKS["push_red_left"]
    recorded = {}
    for record in ("intended", "executed"):
        out = collect_task_demos(task, tmp_path / f"{record}.hdf5", 1, seed=1, action_noise=0.1, record=record)
        data = read_play_dataset(out["dataset"])
        import h5py

        with h5py.File(out["dataset"]) as f:
            seed = int(f["data"][data.demo_names[0]].attrs["seed"])
            first_success = int(f["data"][data.demo_names[0]].attrs["first_success"])
        assert 0 < first_success < len(data.actions) - 1  # the push succeeds before its retreat ends
        recorded[record] = (data.flat_obs(), data.actions)
    env = make_play_env()
    reset_task(task, env, seed)
    prim = scripted_primitive(task, env)
    env.close()
    obs, actions = recorded["intended"]
    replay = np.stack([np.clip(prim.act(o), -1, 1) for o in obs[:-1]])  # the last row is the "stay"
    np.testing.assert_allclose(actions[:-1], replay, atol=1e-6)
    obs_x, actions_x = recorded["executed"]  # same start and noise draws: the same run, with noisy labels
    np.testing.assert_array_equal(obs_x, obs)
    noise = actions_x[:-1, :6] - actions[:-1, :6]
    assert 0.05 < float(noise.std()) < 0.15  # std 0.1, a little less where clipped at +-1
