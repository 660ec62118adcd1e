"""make_vec_env: shapes, modes, seeding, and sync/async equivalence."""

from __future__ import annotations

import numpy as np
import pytest

from skill_rl.envs.vector import VEC_MODES, blas_threads, make_vec_env, resolve_mode

ENV = "TabletopLift-v0"


def _rollout(vec, steps: int, seed_actions: int = 0):
    rng = np.random.default_rng(seed_actions)
    obs, _ = vec.reset()
    out = [("reset", obs.copy())]
    for _ in range(steps):
        action = rng.uniform(-1, 1, size=vec.action_space.shape).astype(np.float32)
        obs, reward, terminated, truncated, _ = vec.step(action)
        out.append((obs.copy(), reward.copy(), terminated.copy(), truncated.copy()))
    return out


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_shapes(mode):
    vec = make_vec_env(f"skill_rl/{ENV}", 3, mode=mode, seed=0)
    try:
        assert vec.num_envs == 3
        assert vec.action_space.shape == (3, 7)
        obs_dim = vec.single_observation_space.shape[0]
        obs, info = vec.reset()
        assert obs.shape == (3, obs_dim) and obs.dtype == np.float32
        assert "is_success" in info
        obs, reward, terminated, truncated, info = vec.step(vec.action_space.sample())
        assert obs.shape == (3, obs_dim)
        assert reward.shape == terminated.shape == truncated.shape == (3,)
        assert info["is_success"].shape == (3,)
    finally:
        vec.close()


def test_env_kwargs_reach_sub_envs():
    vec = make_vec_env(ENV, 2, mode="sync", controller="joint_pos", max_episode_steps=3)
    try:
        assert vec.action_space.shape == (2, 8)
        vec.reset(seed=0)
        truncated = [vec.step(vec.action_space.sample())[3] for _ in range(3)]
        assert not truncated[1].any() and truncated[2].all()
    finally:
        vec.close()


def test_bad_arguments():
    with pytest.raises(ValueError, match="valid modes: auto, sync, async"):
        make_vec_env(ENV, 2, mode="threads")
    with pytest.raises(ValueError, match="num_envs"):
        make_vec_env(ENV, 0)
    with pytest.raises(ValueError, match="worker_blas_threads"):
        make_vec_env(ENV, 2, mode="async", worker_blas_threads=0)
    with pytest.raises(KeyError, match="unknown env id"):
        make_vec_env("NoSuchEnv-v0", 1, mode="sync").reset()


def test_auto_mode_resolves():
    assert resolve_mode(1, "auto") == "sync"
    assert resolve_mode(4, "auto") in ("sync", "async")
    assert set(VEC_MODES) == {"auto", "sync", "async"}
    for mode in ("sync", "async"):
        assert resolve_mode(3, mode) == mode


def test_seeding_is_deterministic_and_distinct():
    a = make_vec_env(ENV, 3, mode="sync", seed=11)
    b = make_vec_env(ENV, 3, mode="sync", seed=11)
    c = make_vec_env(ENV, 3, mode="sync", seed=12)
    try:
        oa, _ = a.reset()
        ob, _ = b.reset()
        oc, _ = c.reset()
        np.testing.assert_array_equal(oa, ob)
        # sub-envs get different seeds: different initial cube poses and arm noise
        assert not np.array_equal(oa[0], oa[1]) and not np.array_equal(oa[1], oa[2])
        # seed 12 gives sub-env 0 what seed 11 gave sub-env 1 (seed + i), and something new for the last one
        np.testing.assert_array_equal(oc[0], oa[1])
        assert not any(np.array_equal(oc[2], oa[i]) for i in range(3))
        # batched action spaces are seeded too
        np.testing.assert_array_equal(a.action_space.sample(), b.action_space.sample())
        # an explicit reset seed overrides the construction seed, gymnasium-style (seed + i)
        ob2, _ = b.reset(seed=12)
        np.testing.assert_array_equal(ob2, oc)
        # later unseeded resets continue each sub-env's own random stream, identically in a and b
        d = make_vec_env(ENV, 3, mode="sync", seed=11)
        d.reset()
        second = a.reset()[0]
        np.testing.assert_array_equal(second, d.reset()[0])
        assert not np.array_equal(second, oa)
        d.close()
    finally:
        for v in (a, b, c):
            v.close()


def test_unseeded_runs():
    vec = make_vec_env(ENV, 2, mode="sync")
    try:
        obs, _ = vec.reset()
        assert np.isfinite(obs).all()
    finally:
        vec.close()


def test_sync_and_async_trajectories_identical():
    # short episodes so that the run crosses two autoresets
    kwargs = {"max_episode_steps": 8}
    sync = make_vec_env(ENV, 2, mode="sync", seed=5, **kwargs)
    asyn = make_vec_env(ENV, 2, mode="async", seed=5, **kwargs)
    try:
        ts, ta = _rollout(sync, 20), _rollout(asyn, 20)
    finally:
        sync.close()
        asyn.close()
    assert len(ts) == len(ta)
    for step, (s, a) in enumerate(zip(ts, ta, strict=True)):
        for x, y in zip(s, a, strict=True):
            if isinstance(x, str):
                assert x == y
            else:
                np.testing.assert_array_equal(x, y, err_msg=f"step {step}")
    # the run did cross episode boundaries
    assert any(t[3].any() for t in ts[1:])


def test_async_leaves_parent_blas_threads_alone():
    before = blas_threads()
    if before is None:
        pytest.skip("numpy is not linked against OpenBLAS here")
    vec = make_vec_env(ENV, 2, mode="async", seed=0)  # workers drop to 1 BLAS thread; the parent must not
    try:
        vec.reset()
        assert blas_threads() == before
    finally:
        vec.close()
