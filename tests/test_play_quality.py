"""Data-quality measures (skill_rl.play.quality): each one moves with the property it is named after."""

from __future__ import annotations

import numpy as np
import pytest

from skill_rl.play.quality import data_quality


def _data(rng, *, label_noise=0.0, system_noise=0.0, spread=1.0, episodes=40, steps=50):
    """States in 3-D, a smooth policy a = tanh(s), s' = s + 0.1 a (+ system noise); recorded labels may be noisy."""
    obs = rng.uniform(-spread, spread, (episodes * steps, 3)).astype(np.float32)
    act = np.tanh(obs[:, :2])
    nxt = obs.copy()
    nxt[:, :2] += 0.1 * act + rng.normal(0, system_noise, act.shape)
    labels = act + rng.normal(0, label_noise, act.shape)
    return obs, labels.astype(np.float32), nxt.astype(np.float32), np.arange(1, episodes + 1) * steps


def test_each_measure_moves_with_its_property():
    rng = np.random.default_rng(0)
    kw = {"n_queries": 400, "n_reference": 2000}
    clean = data_quality(*_data(rng), **kw)
    noisy_labels = data_quality(*_data(rng, label_noise=0.3), **kw)
    noisy_system = data_quality(*_data(rng, system_noise=0.05), **kw)
    assert noisy_labels["action_variance"] > 5 * clean["action_variance"]
    assert noisy_system["transition_diversity"] > 5 * clean["transition_diversity"]
    assert noisy_system["action_variance"] < 2 * clean["action_variance"]
    # the same states, half of them collapsed onto a few points: less diverse (z-scoring keeps the scale fair)
    obs, labels, nxt, ends = _data(rng)
    obs[::2] = np.round(obs[::2], 0)
    assert data_quality(obs, labels, nxt, ends, **kw)["state_diversity"] < clean["state_diversity"]
    assert clean["object_cells"] is None and clean["n_queries"] == 400


def test_object_cells_count_table_cells_visited_by_objects():
    obs = np.zeros((4, 6), np.float32)
    obs[:, 3:5] = [[0.0, 0.0], [0.005, 0.0], [0.05, 0.0], [0.05, 0.1]]  # cube_pos xy: 3 distinct 2 cm cells
    layout = {"eef_pos": slice(0, 3), "cube_pos": slice(3, 6)}
    q = data_quality(obs, np.zeros((4, 2), np.float32), obs, [2, 4], layout=layout, k=2)
    assert q["object_cells"] == 3


def test_bad_input_is_a_clear_error():
    obs = np.zeros((10, 3), np.float32)
    with pytest.raises(ValueError, match="share N"):
        data_quality(obs, np.zeros((9, 2)), obs, [5, 10])
    with pytest.raises(ValueError, match="episode_ends"):
        data_quality(obs, np.zeros((10, 2)), obs, [10])
    with pytest.raises(ValueError, match="episode_ends"):
        data_quality(obs, np.zeros((10, 2)), obs, [5, 9])
    with pytest.raises(ValueError, match="k must be"):
        data_quality(obs, np.zeros((10, 2)), obs, [5, 10], k=1)


def test_dart_play_labels_are_more_consistent_and_its_transitions_more_diverse(tmp_path):
    """The same play (same seed, same executed actions and states) labelled two ways: DART's intended actions are
    more consistent across alike states than the executed ones, and the noise shows up as system noise."""
    from skill_rl.play.collect import PlayCollectConfig, collect_play
    from skill_rl.play.dataset import read_play_dataset
    from skill_rl.play.quality import dataset_quality

    q, files = {}, []
    for record in ("intended", "executed"):
        s = collect_play(PlayCollectConfig(hours_of_play=0.01, episode_steps=100, action_noise=0.2, record=record,
                                           run_root=str(tmp_path), run_name=record), progress=False)
        files.append(read_play_dataset(s["dataset"], load_next_obs=True))
        q[record] = dataset_quality(files[-1], n_queries=500)
    both = dataset_quality(files, n_queries=500)  # several files as one dataset
    assert (both["rows"], both["episodes"]) == (2 * q["intended"]["rows"], 2 * q["intended"]["episodes"])
    assert q["intended"]["state_diversity"] == q["executed"]["state_diversity"]  # the same states
    assert q["intended"]["action_variance"] < 0.9 * q["executed"]["action_variance"]
    assert q["intended"]["transition_diversity"] > q["executed"]["transition_diversity"]
    assert q["intended"]["object_cells"] > 10
