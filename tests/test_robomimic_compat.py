"""robomimic 0.3.0's own code reads our HDF5 files, recreates our envs from them and replays them exactly.

Play data (``skill-rl play collect``) and lifelong demos (``skill-rl lifelong demos``, a registered task and a
task-language scene) are checked with robomimic's ``create_env_from_metadata``, ``playback_dataset``'s replay
function (from states and from actions, with its own divergence check) and ``SequenceDataset`` with ``next_obs``.

robomimic imports torchvision for its image encoders (``robomimic.models``), which ``file_utils`` and the scripts
import. PyPI's torchvision wheel is built against CUDA torch and does not load beside the CPU torch wheel
("operator torchvision::nms does not exist"); where it cannot be imported, a stand-in module is put in its place
that raises if anything calls it. The low-dimensional paths tested here never do.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import types
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests._extras import missing, require

require("robomimic", extra="robomimic")
require("gym", extra="robomimic")

from skill_rl.lifelong.demos import generate_demos  # noqa: E402
from skill_rl.lifelong.generate import write_suite  # noqa: E402
from skill_rl.lifelong.suites import get_suite  # noqa: E402
from skill_rl.play.collect import PlayCollectConfig, collect_play  # noqa: E402
from skill_rl.play.dataset import read_play_dataset  # noqa: E402


def _torchvision_or_stand_in() -> bool:
    """Import torchvision, else put the stand-in in its place; True if the stand-in is used."""
    try:
        import torchvision  # noqa: F401
    except (ImportError, RuntimeError, OSError):
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]

        def unusable(name: str):
            if name.startswith("__"):
                raise AttributeError(name)

            def fail(*_a, **_k):
                raise RuntimeError(f"torchvision.{name} is a test stand-in: torchvision cannot be imported here")
            return fail

        for name in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional",
                     "torchvision.models"):
            mod = types.ModuleType(name)
            mod.__getattr__ = unusable  # type: ignore[method-assign]  # PEP 562: any attribute
            sys.modules[name] = mod
        for name in ("transforms", "models"):
            setattr(sys.modules["torchvision"], name, sys.modules[f"torchvision.{name}"])
        sys.modules["torchvision.transforms"].functional = sys.modules["torchvision.transforms.functional"]
        return True
    return False


@pytest.fixture(scope="module")
def rm():
    """robomimic's modules: env_utils, file_utils, obs_utils, the dataset class and the playback script."""
    stand_in = _torchvision_or_stand_in()
    names = ("utils.env_utils", "utils.file_utils", "utils.obs_utils", "utils.dataset", "scripts.playback_dataset",
             "scripts.train", "scripts.run_trained_agent", "config")
    yield types.SimpleNamespace(**{n.split(".")[-1]: importlib.import_module(f"robomimic.{n}") for n in names})
    if stand_in:  # leave no stand-in (nor robomimic modules bound to it) for later tests
        for name in [m for m in sys.modules if m.split(".")[0] in ("torchvision", "robomimic")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A play file (2 episodes of 100 steps, DART: labels are the intended actions), the same play recorded with
    the executed actions as labels, a lifelong demo file of a registered task (Lift) and one of a task-language
    scene (the first task of tabletop-goal), one demo each."""
    tmp = tmp_path_factory.mktemp("robomimic")
    play = collect_play(PlayCollectConfig(debug=True, run_root=str(tmp)), progress=False)["dataset"]
    executed = collect_play(PlayCollectConfig(debug=True, run_root=str(tmp), run_name="play-executed",
                                              record="executed"), progress=False)["dataset"]
    lift = get_suite("tabletop-micro").subset(1)
    write_suite("tabletop-goal", n_tasks=1, out_dir=tmp / "tasks")
    goal = get_suite("tabletop-goal", root=tmp / "tasks")
    out = {"play": Path(play), "play_executed": Path(executed)}
    for key, suite in (("lift", lift), ("task_file", goal)):
        stats = generate_demos(suite, tmp / "demos", 1, max_steps=400, progress=False)
        out[key] = Path(stats[suite.tasks[0].name]["path"])
    return out


@pytest.mark.parametrize("which", ["play", "lift", "task_file"])
def test_create_env_from_metadata_recreates_our_env(rm, files, which):
    meta = rm.file_utils.get_env_metadata_from_dataset(str(files[which]))
    env = rm.env_utils.create_env_from_metadata(env_meta=meta)
    assert env.type == rm.env_utils.EB.EnvType.GYM_TYPE
    assert env.serialize() == {k: meta[k] for k in ("env_name", "type", "env_kwargs")}
    obs = env.reset()
    with h5py.File(files[which], "r") as f:
        demo = f["data/demo_0"]
        assert env.action_dimension == demo["actions"].shape[1]
        assert obs["flat"].shape == demo["obs/flat"].shape[1:]
    assert env.is_success() == {"task": False}


@pytest.mark.parametrize("which", ["play", "lift", "task_file"])
def test_playback_reproduces_recorded_observations(rm, files, which, capsys):
    """robomimic's playback from actions: its own bit-exact state check reports no divergence, and the
    observations after each action match the file's next_obs; from states: each state gives its obs row.
    Play and lifelong demos carry DART noise: the executed actions (``executed_actions``), not the labels, replay."""
    meta = rm.file_utils.get_env_metadata_from_dataset(str(files[which]))
    env = rm.env_utils.create_env_from_metadata(env_meta=meta)
    data = read_play_dataset(files[which], load_next_obs=True)
    with h5py.File(files[which], "r") as f:
        demo = f["data/demo_0"]
        states, actions = demo["states"][()], demo["actions"][()]
        # recorded with DART noise: the labels are not what the env executed
        assert np.abs(demo["executed_actions"][()] - actions).max() > 0.01
        actions = demo["executed_actions"][()]
        obs, next_obs = demo["obs/flat"][()], demo["next_obs/flat"][()]
    assert len(states) > 20
    # next_obs/flat is the virtual concatenation of the fields our reader loads
    np.testing.assert_array_equal(next_obs, np.concatenate([data.next_obs[k][: len(states)] for k in data.obs_keys], 1))

    capsys.readouterr()
    rm.playback_dataset.playback_trajectory_with_env(env, {"states": states[0]}, states, actions=actions)
    assert "diverged" not in capsys.readouterr().out

    env.reset()
    assert np.abs(env.reset_to({"states": states[0]})["flat"] - obs[0]).max() <= 1e-6
    got = np.stack([env.step(a)[0]["flat"] for a in actions])
    assert np.abs(got - next_obs).max() <= 1e-6

    rm.playback_dataset.playback_trajectory_with_env(env, {"states": states[0]}, states)  # from states
    for t in (0, len(states) // 2, len(states) - 1):
        assert np.abs(env.reset_to({"states": states[t]})["flat"] - obs[t]).max() <= 1e-6

    # the check can fail: a changed action makes robomimic report the divergence
    bad = actions.copy()
    bad[5, :3] = -bad[5, :3] + 0.5
    capsys.readouterr()
    rm.playback_dataset.playback_trajectory_with_env(env, {"states": states[0]}, states, actions=bad)
    assert "playback diverged" in capsys.readouterr().out


def _playback_args(path: Path, **kw) -> argparse.Namespace:
    """playback_dataset.py's command-line arguments, as its argparse defaults them."""
    args = {"dataset": str(path), "filter_key": None, "n": None, "use_obs": False, "use_actions": False,
            "render": False, "video_path": None, "video_skip": 5, "render_image_names": None, "first": False}
    return argparse.Namespace(**{**args, **kw})


def test_playback_dataset_script(rm, files, capsys, tmp_path):
    """The script's own entry point (``python -m robomimic.scripts.playback_dataset --dataset play.hdf5
    --use-actions``), every demo of the play file, and its video output from our camera. The script replays the
    ``actions`` dataset: a play file whose labels are the executed actions (``record=executed``) replays exactly;
    a DART file's labels diverge (replay it from states, or with ``executed_actions`` as above)."""
    rm.playback_dataset.playback_dataset(_playback_args(files["play_executed"], use_actions=True))
    out = capsys.readouterr().out
    assert out.count("Playing back episode") == 2 and "diverged" not in out
    if not os.environ.get("MUJOCO_GL") and not os.environ.get("DISPLAY"):
        missing("no OpenGL backend (neither MUJOCO_GL nor DISPLAY is set)", extra="render")
    video = tmp_path / "play.mp4"
    rm.playback_dataset.playback_dataset(_playback_args(files["play"], n=1, video_path=str(video), video_skip=25,
                                                        render_image_names=["front"]))
    import imageio.v2 as imageio

    frames = imageio.mimread(video)
    assert len(frames) == 4 and frames[0].shape[:2] == (512, 512) and np.std(frames[0]) > 5


def test_sequence_dataset_loads_next_obs(rm, files):
    path = str(files["play"])
    keys = ["eef_pos", "cube_red_pos", "flat"]
    rm.obs_utils.initialize_obs_utils_with_obs_specs({"obs": {"low_dim": keys}})
    ds = rm.dataset.SequenceDataset(hdf5_path=path, obs_keys=keys, dataset_keys=("actions", "rewards", "dones"),
                                    load_next_obs=True, seq_length=4, hdf5_cache_mode="all", goal_mode="last")
    ours = read_play_dataset(path, load_next_obs=True)
    assert len(ds) == len(ours.actions)
    item = ds[10]  # demo_0, steps 10..13
    for key in ("eef_pos", "cube_red_pos"):
        np.testing.assert_array_equal(item["obs"][key], ours.obs[key][10:14])
        np.testing.assert_array_equal(item["next_obs"][key], ours.next_obs[key][10:14])
        np.testing.assert_array_equal(item["next_obs"][key][:-1], item["obs"][key][1:])
    np.testing.assert_array_equal(item["obs"]["flat"], ours.flat_obs()[10:14])
    end = int(ours.episode_ends[0]) - 1  # the goal ("last") is the demo's final next_obs
    np.testing.assert_array_equal(item["goal_obs"]["eef_pos"], ours.next_obs["eef_pos"][end])
    assert item["dones"].shape == (4,) and item["actions"].shape == (4, 7)


def test_train_with_rollouts_and_run_trained_agent(rm, files, tmp_path):
    """robomimic's train() fits BC on obs/flat and rolls it out in our env (the env name goes into checkpoint
    file names); run_trained_agent() reloads the checkpoint, recreates the env and records rollouts, whose
    states our env restores to the observations robomimic recorded."""
    import torch

    threads = torch.get_num_threads()
    cfg = rm.config.config_factory("bc")
    with cfg.values_unlocked():
        cfg.train.data, cfg.train.output_dir = str(files["play"]), str(tmp_path / "bc")
        cfg.train.num_epochs, cfg.train.batch_size, cfg.train.cuda = 1, 16, False
        cfg.experiment.epoch_every_n_steps, cfg.experiment.validation_epoch_every_n_steps = 5, 1
        cfg.experiment.rollout.n, cfg.experiment.rollout.horizon, cfg.experiment.rollout.rate = 1, 10, 1
        cfg.experiment.save.every_n_epochs, cfg.experiment.logging.log_tb = 1, False
        cfg.observation.modalities.obs.low_dim = ["flat"]
    try:
        rm.train.train(cfg, device=torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)  # train() sets 2
    ckpt = sorted((tmp_path / "bc").glob("*/*/models/model_epoch_1*.pth"))
    assert len(ckpt) == 1 and "TabletopPlay-v0" in ckpt[0].name
    out = tmp_path / "rollouts.hdf5"
    rm.run_trained_agent.run_trained_agent(argparse.Namespace(
        agent=str(ckpt[0]), n_rollouts=1, horizon=8, env=None, render=False, video_path=None, video_skip=5,
        camera_names=["front"], dataset_path=str(out), dataset_obs=True, seed=0))
    with h5py.File(out, "r") as f:
        assert f["data"].attrs["env_args"] and f["data/demo_0/actions"].shape == (8, 7)
        states, obs = f["data/demo_0/states"][()], f["data/demo_0/obs/flat"][()]
    from skill_rl import envs

    env = envs.make("TabletopPlay-v0").unwrapped
    for t in (0, 7):
        np.testing.assert_allclose(env.set_sim_state(states[t]), obs[t], atol=1e-6)
