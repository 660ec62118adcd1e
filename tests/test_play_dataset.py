"""Play datasets: robomimic-layout HDF5 round trip, validation errors, foreign (robomimic) files, no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest

from skill_rl.errors import UserError
from skill_rl.play.dataset import PlayDataError, PlayDatasetWriter, read_play_dataset

LAYOUT = {"eef_pos": [0, 3], "gripper_qpos": [3, 5], "cube_pos": [5, 8]}


def _episode(rng, n, obs_dim=8, act_dim=7, state_dim=6):
    return {
        "obs": rng.normal(size=(n, obs_dim)).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, act_dim)).astype(np.float32),
        "states": rng.normal(size=(n, state_dim)),
        "rewards": rng.normal(size=n).astype(np.float32),
    }


def _write(path, episodes, **kw):
    with PlayDatasetWriter(path, {"env_id": "x", "env_kwargs": {"a": 1}, "obs_layout": LAYOUT}, **kw) as w:
        for ep in episodes:
            w.add_episode(ep["obs"], ep["actions"], rewards=ep["rewards"], states=ep["states"], attrs={"seed": 3})
    return path


def test_round_trip_exact(tmp_path):
    rng = np.random.default_rng(0)
    eps = [_episode(rng, n) for n in (5, 1, 17)]
    path = _write(tmp_path / "d.hdf5", eps, chunk_rows=4)
    d = read_play_dataset(path)
    assert d.demo_names == ["demo_0", "demo_1", "demo_2"]
    assert d.obs_keys == list(LAYOUT)
    assert d.episode_lengths.tolist() == [5, 1, 17]
    assert d.env_args["env_id"] == "x" and d.env_args["obs_layout"] == LAYOUT
    for i, ep in enumerate(eps):
        got = d.episode(i)
        np.testing.assert_array_equal(np.concatenate([got["obs"][k] for k in LAYOUT], axis=1), ep["obs"])
        np.testing.assert_array_equal(got["actions"], ep["actions"])
        np.testing.assert_array_equal(got["states"], ep["states"])
        s, e = d.episode_starts[i], d.episode_ends[i]
        np.testing.assert_array_equal(d.rewards[s:e], ep["rewards"])
        assert d.dones[s:e].tolist() == [0] * (e - s - 1) + [1]
    with h5py.File(path, "r") as f:  # the robomimic layout itself
        assert f["data"].attrs["total"] == 23
        assert json.loads(f["data"].attrs["env_args"])["env_kwargs"] == {"a": 1}
        g = f["data/demo_2"]
        assert g.attrs["num_samples"] == 17 and g.attrs["seed"] == 3
        assert g["obs/eef_pos"].shape == (17, 3) and g["obs/eef_pos"].chunks == (4, 3)
        assert g["actions"].compression == "gzip"
        assert set(g.keys()) == {"obs", "actions", "rewards", "dones", "states"}


def test_next_obs_flat_view_and_extra_datasets(tmp_path):
    """``final_obs`` adds next_obs (obs shifted by one, then the final observation) for every key; obs/flat and
    next_obs/flat are virtual views of the fields in layout order; ``extra`` adds per-step datasets."""
    rng = np.random.default_rng(5)
    eps = [_episode(rng, n) for n in (6, 1)]
    finals = [rng.normal(size=8).astype(np.float32) for _ in eps]
    path = tmp_path / "n.hdf5"
    with PlayDatasetWriter(path, {"obs_layout": LAYOUT}, chunk_rows=4) as w:
        for ep, final in zip(eps, finals, strict=True):
            w.add_episode(ep["obs"], ep["actions"], final_obs=final, extra={"executed_actions": ep["actions"] * 0.5})
    d = read_play_dataset(path, load_next_obs=True)
    assert d.obs_keys == list(LAYOUT)  # the flat view is not loaded as a field
    with h5py.File(path, "r") as f:
        for i, (ep, final) in enumerate(zip(eps, finals, strict=True)):
            g = f[f"data/demo_{i}"]
            want_next = np.concatenate([ep["obs"][1:], final[None]])
            assert g["obs/flat"].is_virtual and g["next_obs/flat"].is_virtual
            np.testing.assert_array_equal(g["obs/flat"][()], ep["obs"])
            np.testing.assert_array_equal(g["next_obs/flat"][()], want_next)
            s, e = d.episode_starts[i], d.episode_ends[i]
            np.testing.assert_array_equal(np.concatenate([d.next_obs[k][s:e] for k in LAYOUT], 1), want_next)
            np.testing.assert_array_equal(g["executed_actions"][()], ep["actions"] * 0.5)
    assert read_play_dataset(path).next_obs is None  # only when asked for
    # a layout that does not tile the vector gets no flat view; files without next_obs load with next_obs None
    with PlayDatasetWriter(tmp_path / "gap.hdf5", {"obs_layout": {"a": [0, 2], "b": [3, 4]}}) as w:
        w.add_episode({"a": np.zeros((3, 2)), "b": np.zeros((3, 1))}, np.zeros((3, 1)))
    with h5py.File(tmp_path / "gap.hdf5", "r") as f:
        assert set(f["data/demo_0/obs"]) == {"a", "b"} and "next_obs" not in f["data/demo_0"]
    assert read_play_dataset(tmp_path / "gap.hdf5", load_next_obs=True).next_obs is None


def test_writer_rejects_bad_next_obs_and_extra(tmp_path):
    rng = np.random.default_rng(6)
    ep = _episode(rng, 4)
    with pytest.raises(ValueError, match="final_obs has keys"), PlayDatasetWriter(tmp_path / "x.hdf5") as w:
        w.add_episode({"a": ep["obs"][:, :2]}, ep["actions"], final_obs={"b": np.zeros(2)})
    with pytest.raises(ValueError, match="would replace a standard one"), PlayDatasetWriter(tmp_path / "y.hdf5") as w:
        w.add_episode({"a": ep["obs"][:, :2]}, ep["actions"], extra={"states": ep["states"]})
    with pytest.raises(ValueError, match="executed_actions has 3 rows"), PlayDatasetWriter(tmp_path / "z.hdf5") as w:
        w.add_episode({"a": ep["obs"][:, :2]}, ep["actions"], extra={"executed_actions": ep["actions"][:3]})


def test_writer_is_atomic(tmp_path):
    path = tmp_path / "d.hdf5"
    rng = np.random.default_rng(1)
    _write(path, [_episode(rng, 4)])
    with pytest.raises(RuntimeError, match="boom"):
        with PlayDatasetWriter(path, {"obs_layout": LAYOUT}) as w:
            w.add_episode(**{k: v for k, v in _episode(rng, 9).items()})
            raise RuntimeError("boom")
    assert read_play_dataset(path).episode_lengths.tolist() == [4]  # the old file, untouched
    assert [p.name for p in tmp_path.iterdir()] == ["d.hdf5"]  # no temporary file left behind


def _corrupt(tmp_path, edit):
    path = _write(tmp_path / "bad.hdf5", [_episode(np.random.default_rng(2), n) for n in (6, 7)])
    with h5py.File(path, "a") as f:
        edit(f)
    return path


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda f: f["data/demo_1/obs"].__delitem__("cube_pos"), r"data/demo_1/obs has no key 'cube_pos'"),
        (lambda f: f["data/demo_0"].__delitem__("actions"), r"data/demo_0 .*'actions'"),
        (lambda f: (f["data/demo_1/obs"].__delitem__("eef_pos"),
                    f["data/demo_1/obs"].create_dataset("eef_pos", data=np.zeros((5, 3)))),
         r"data/demo_1/obs/eef_pos has shape \(5, 3\), expected 7 rows"),
        (lambda f: (f["data/demo_1/obs"].__delitem__("eef_pos"),
                    f["data/demo_1/obs"].create_dataset("eef_pos", data=np.zeros((7, 4)))),
         r"data/demo_1/obs/eef_pos has shape \(7, 4\); earlier demos have \(T, 3\)"),
        (lambda f: f["data/demo_1/actions"].__setitem__((3, 2), np.nan), r"data/demo_1/actions contains NaN"),
        (lambda f: f["data/demo_0/obs/gripper_qpos"].__setitem__((0, 0), np.inf),
         r"data/demo_0/obs/gripper_qpos contains NaN or inf"),
        (lambda f: f["data/demo_0"].attrs.__setitem__("num_samples", 99), r"data/demo_0/actions has 6 rows but num_samples"),
        (lambda f: f.__delitem__("data"), r"no 'data' group"),
        (lambda f: [f.create_dataset(f"data/demo_0/next_obs/{k}", data=np.zeros((6, 2))) for k in LAYOUT],
         r"data/demo_0/next_obs/eef_pos has shape \(6, 2\), obs/eef_pos has \(6, 3\)"),
        (lambda f: f.create_dataset("data/demo_0/next_obs/eef_pos", data=np.zeros((6, 3))),
         r"data/demo_0/next_obs has no key 'gripper_qpos'"),
    ],
    ids=["missing-obs-key", "missing-actions", "wrong-length", "wrong-width", "nan", "inf", "num-samples", "no-data",
         "next-obs-width", "next-obs-key"],
)
def test_validation_errors_name_file_demo_and_key(tmp_path, edit, pattern):
    path = _corrupt(tmp_path, edit)
    with pytest.raises(PlayDataError, match=pattern) as info:
        read_play_dataset(path, load_next_obs=True)
    assert str(path) in str(info.value)
    assert isinstance(info.value, UserError)


def test_truncated_and_garbage_files(tmp_path):
    path = _write(tmp_path / "t.hdf5", [_episode(np.random.default_rng(3), 300)], compression=None)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PlayDataError, match=r"t\.hdf5.*(truncated|corrupt)"):
        read_play_dataset(path)
    junk = tmp_path / "junk.hdf5"
    junk.write_bytes(b"not an hdf5 file at all" * 10)
    with pytest.raises(PlayDataError, match=r"junk\.hdf5: cannot open as HDF5"):
        read_play_dataset(junk)
    with pytest.raises(PlayDataError, match="not found"):
        read_play_dataset(tmp_path / "missing.hdf5")


def _robomimic_file(path):
    """A tiny file as robomimic's / LIBERO's scripts write them: their obs keys, no obs_layout, 1-d rewards."""
    rng = np.random.default_rng(4)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "Lift", "type": 1, "env_kwargs": {"control_freq": 20}})
        total = 0
        for i, n in enumerate((10, 12)):
            g = data.create_group(f"demo_{i}")
            g.attrs["num_samples"] = n
            g.create_dataset("actions", data=rng.uniform(-1, 1, (n, 7)))
            g.create_dataset("states", data=rng.normal(size=(n, 32)))
            g.create_dataset("rewards", data=np.zeros(n))
            g.create_dataset("dones", data=np.r_[np.zeros(n - 1), 1].astype(np.int64))
            for key, dim in (("robot0_eef_pos", 3), ("robot0_eef_quat", 4), ("robot0_gripper_qpos", 2), ("object", 10)):
                g.create_dataset(f"obs/{key}", data=rng.normal(size=(n, dim)))
                g.create_dataset(f"next_obs/{key}", data=rng.normal(size=(n, dim)))
            g.create_dataset("obs/agentview_image", data=np.zeros((n, 8, 8, 3), np.uint8))
            total += n
        data.attrs["total"] = total
        f.create_group("mask").create_dataset("train", data=np.array([b"demo_0", b"demo_1"]))
    return path


def test_reads_robomimic_layout_with_configurable_keys(tmp_path):
    path = _robomimic_file(tmp_path / "low_dim.hdf5")
    keys = ["robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos", "object"]
    d = read_play_dataset(path, obs_keys=keys)
    assert d.obs_keys == keys
    assert d.flat_obs().shape == (22, 19) and d.actions.shape == (22, 7) and d.states.shape == (22, 32)
    assert d.episode_lengths.tolist() == [10, 12] and d.env_args["env_name"] == "Lift"
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(d.obs["object"][10:], f["data/demo_1/obs/object"][()].astype(np.float32))
    # Default keys: the low-dimensional ones (the image key is left out), sorted.
    assert read_play_dataset(path).obs_keys == sorted(keys)
    with pytest.raises(PlayDataError, match=r"data/demo_0/obs has no key 'eef_pos' \(it has: agentview_image"):
        read_play_dataset(path, obs_keys=["eef_pos"])


def test_dataset_module_does_not_import_torch():
    code = ("import sys, skill_rl.play.dataset, skill_rl.play.windows; "
            "bad = [m for m in ('torch', 'mujoco') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sim_state_rows_replay_exactly_and_restore_state_takes_the_controller_target():
    """A dataset's ``states`` row (the env's sim_state) restores a scene without a reset with its seed, and the
    recorded actions then give the recorded observations exactly; restore_state sets the ee_delta target."""
    from skill_rl import envs

    env = envs.make("TabletopPickPlace-v0").unwrapped
    obs, _ = env.reset(seed=4)
    rng = np.random.default_rng(0)
    states, after, actions = [], [], rng.uniform(-1, 1, (30, 7))
    for a in actions:
        states.append(env.sim_state())
        obs, *_ = env.step(a)
        after.append(obs)
    other = envs.make("TabletopPickPlace-v0").unwrapped
    other.reset(seed=99)  # another scene: the state carries the region's placement
    other.set_sim_state(states[10])
    replayed = np.stack([other.step(a)[0] for a in actions[10:]])
    assert np.abs(replayed - np.stack(after[10:])).max() <= 1e-6
    np.testing.assert_array_equal(other.sim_state(), env.sim_state())

    lay = {k: slice(*v) for k, v in env.state_layout.items()}
    s = states[20]
    other.reset(seed=4)
    other.restore_state(s[lay["qpos"]], s[lay["qvel"]], gripper_command=float(actions[19, -1]),
                        ee_target=(s[lay["ee_target_pos"]], s[lay["ee_target_rot"]].reshape(3, 3)))
    for key in ("qpos", "ee_target_pos", "ee_target_rot"):
        np.testing.assert_array_equal(other.sim_state()[lay[key]], s[lay[key]])
    with pytest.raises(ValueError, match="ee_target must be"):
        other.restore_state(s[lay["qpos"]], s[lay["qvel"]], ee_target=(np.zeros(2), np.eye(3)))
    with pytest.raises(ValueError, match=f"state vector of length {len(s)}"):
        other.set_sim_state(s[:-1])
