"""Windows with hindsight relabelling: goal indices are right and nothing ever crosses an episode boundary."""

from __future__ import annotations

import numpy as np
import pytest

from skill_rl.play.windows import WindowSampler, gather_windows


def _episode_of(lengths):
    """Per global step: (episode id, step within episode)."""
    ep = np.repeat(np.arange(len(lengths)), lengths)
    t = np.concatenate([np.arange(n) for n in lengths]) if len(lengths) else np.zeros(0, int)
    return ep, t


@pytest.mark.parametrize("trial", range(40))
def test_windows_never_cross_episodes_property(trial):
    rng = np.random.default_rng(trial)
    lengths = rng.integers(0, 40, size=rng.integers(1, 8))
    window = int(rng.integers(1, 12))
    goal = "last" if trial % 2 == 0 else "future"
    horizon = int(rng.integers(0, 30))
    if lengths.max() < window:
        with pytest.raises(ValueError, match="no episode is at least"):
            WindowSampler(lengths, window, goal=goal, horizon=horizon, rng=rng)
        return
    sampler = WindowSampler(lengths, window, goal=goal, horizon=horizon, rng=rng)
    assert sampler.num_windows == int(np.maximum(lengths - window + 1, 0).sum())
    ep_of, t_of = _episode_of(lengths)
    # Every window (exhaustively) and a random batch.
    for idx in (sampler.index(np.arange(sampler.num_windows)), sampler.sample(256)):
        steps, g, ep = idx.steps, idx.goal, idx.episode
        assert steps.shape == (len(g), window)
        assert (np.diff(steps, axis=1) == 1).all()  # consecutive
        assert (ep_of[steps] == ep[:, None]).all()  # whole window inside its episode
        assert (ep_of[g] == ep).all()  # goal in the same episode
        assert (g >= steps[:, -1]).all()
        if goal == "last":
            assert (g == steps[:, -1]).all()
        else:
            assert (g - steps[:, -1] <= horizon).all()
    # Exhaustive enumeration covers each valid start exactly once.
    all_idx = sampler.index(np.arange(sampler.num_windows))
    starts = {(int(ep_of[s]), int(t_of[s])) for s in all_idx.steps[:, 0]}
    expected = {(e, t) for e, n in enumerate(lengths) for t in range(max(n - window + 1, 0))}
    assert starts == expected


def test_future_goal_reaches_whole_horizon_and_clips_at_episode_end():
    sampler = WindowSampler([10], window=3, goal="future", horizon=4, rng=np.random.default_rng(0))
    idx = sampler.index(np.zeros(2000, dtype=np.int64))  # window at steps 0..2
    assert set(idx.goal.tolist()) == {2, 3, 4, 5, 6}
    idx = sampler.index(np.full(500, sampler.num_windows - 1))  # window at steps 7..9: goal can only be 9
    assert set(idx.goal.tolist()) == {9}


def test_gather_windows_shapes_and_goal_values():
    lengths = [5, 8]
    obs = np.arange(13 * 2, dtype=np.float32).reshape(13, 2)
    actions = -np.arange(13 * 3, dtype=np.float32).reshape(13, 3)
    sampler = WindowSampler(lengths, 4, rng=np.random.default_rng(1))
    batch = gather_windows(obs, actions, sampler.sample(16))
    assert batch.obs.shape == (16, 4, 2) and batch.actions.shape == (16, 4, 3) and batch.goal.shape == (16, 2)
    np.testing.assert_array_equal(batch.goal, batch.obs[:, -1])  # "last": the window's final frame
    np.testing.assert_array_equal(batch.obs, obs[batch.index.steps])


def test_bad_arguments():
    with pytest.raises(ValueError, match="window"):
        WindowSampler([5], 0)
    with pytest.raises(ValueError, match="goal"):
        WindowSampler([5], 2, goal="random")
    with pytest.raises(IndexError):
        WindowSampler([5], 2).index([4])


@pytest.mark.parametrize("trial", range(20))
def test_variable_length_windows_property(trial):
    rng = np.random.default_rng(100 + trial)
    lengths = rng.integers(0, 50, size=rng.integers(1, 6))
    window = int(rng.integers(2, 16))
    min_window = int(rng.integers(1, window + 1))
    if lengths.max() < min_window:
        return
    sampler = WindowSampler(lengths, window, goal="future", horizon=5, rng=rng, min_window=min_window)
    ep_of, _ = _episode_of(lengths)
    idx = sampler.sample(500)
    n_real = idx.mask.sum(axis=1)
    assert (n_real >= min_window).all() and (n_real <= window).all()
    assert (idx.mask[:, :1]).all() and (np.diff(idx.mask.astype(int), axis=1) <= 0).all()  # real steps first
    last_real = idx.steps[np.arange(len(n_real)), n_real - 1]
    assert (idx.steps[:, -1] == last_real).all()  # padding repeats the last real step
    assert (ep_of[idx.steps] == idx.episode[:, None]).all() and (ep_of[idx.goal] == idx.episode).all()
    assert (idx.goal >= last_real).all() and (idx.goal - last_real <= 5).all()
    if window > min_window and lengths.max() >= window + 5:
        assert len(set(n_real.tolist())) > 1  # lengths actually vary


def test_end_goal_is_the_episode_last_step():
    lengths = [10, 25, 7]
    sampler = WindowSampler(lengths, 5, goal="end", rng=np.random.default_rng(0), min_window=3)
    idx = sampler.index(np.arange(sampler.num_windows))
    ends = np.cumsum(lengths) - 1
    np.testing.assert_array_equal(idx.goal, ends[idx.episode])
    assert (idx.goal >= idx.steps[:, -1]).all()


def test_start_fraction_draws_that_share_of_windows_from_episode_starts():
    lengths = np.array([300, 40, 0, 500])  # an empty episode is never drawn
    starts = np.array([0, 300, 340, 340])
    sampler = WindowSampler(lengths, 16, goal="future", horizon=50, rng=np.random.default_rng(0), min_window=8,
                            start_fraction=0.25, start_span=20)
    for _ in range(20):
        idx = sampler.sample(64)
        first, ep = idx.steps[:, 0], idx.episode
        offset = first - starts[ep]
        assert (offset[:16] < 20).all() and set(ep[:16]) <= {0, 1, 3}  # round(0.25 * 64) = 16 from the starts
        assert (idx.goal >= idx.steps[:, -1]).all() and (idx.goal < starts[ep] + lengths[ep]).all()
    # the rest stays uniform: most of those windows start later than 20 steps into their episode
    rest = [sampler.sample(64) for _ in range(20)]
    offsets = np.concatenate([r.steps[16:, 0] - starts[r.episode[16:]] for r in rest])
    assert np.mean(offsets >= 20) > 0.8
    uniform = WindowSampler(lengths, 16, rng=np.random.default_rng(0), min_window=8).sample(64)
    assert np.mean(uniform.steps[:, 0] - starts[uniform.episode] < 20) < 0.2
    with pytest.raises(ValueError, match="start_fraction"):
        WindowSampler(lengths, 16, start_fraction=1.5)
