"""The vector collector (SkillVecEnv) against the single-env path: the same rollouts for the same seeds."""

from __future__ import annotations

import numpy as np
import pytest

from tests._extras import require

th = require("torch", extra="learn")
require("stable_baselines3", extra="learn")

from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

from skill_rl.discovery.config import DiscoveryConfig, DiscoveryError, check_config  # noqa: E402
from skill_rl.discovery.factory import build_model, make_env, make_train_env  # noqa: E402
from skill_rl.discovery.vec_env import SkillVecEnv  # noqa: E402

th.set_num_threads(1)
N = 3


def _cfg(**kw) -> DiscoveryConfig:
    base = dict(n_skills=3, env_options={"max_episode_steps": 20}, net_arch=[16, 16], phi_hidden=[16, 16],
                n_steps=60, batch_size=30, n_epochs=2, n_envs=N, device="cpu", seed=3)
    return DiscoveryConfig(**{**base, **kw})


def _single_path(cfg: DiscoveryConfig) -> DummyVecEnv:
    """What SB3 builds from the wrapped env: every sub-env alone in a Monitor, stepped one by one."""
    return DummyVecEnv([lambda: Monitor(make_env(cfg)) for _ in range(N)])


def _same_info(a: dict, b: dict) -> None:
    for key in ("reward_vector", "skill", "terminal_observation"):
        assert (key in a) == (key in b), key
        if key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    for key in ("reward_terms", "episode_reward_terms", "TimeLimit.truncated", "is_success"):
        assert a.get(key) == b.get(key), key
    assert ("episode" in a) == ("episode" in b)
    if "episode" in a:  # "t" is wall time
        assert (a["episode"]["r"], a["episode"]["l"]) == (b["episode"]["r"], b["episode"]["l"])


def test_vector_collector_steps_like_the_single_env_path():
    cfg = _cfg()
    fast, slow = make_train_env(cfg), _single_path(cfg)
    assert isinstance(fast, SkillVecEnv) and fast.num_envs == N
    for v in (fast, slow):
        v.seed(11)
    np.testing.assert_array_equal(fast.reset(), slow.reset())
    rng = np.random.default_rng(0)
    episodes_ended = 0
    for _ in range(70):  # 3 episodes of 20 steps per env and a bit: resets, time-outs, new skills
        actions = rng.uniform(-1, 1, (N, 7)).astype(np.float32)
        o1, r1, d1, i1 = fast.step(actions)
        o2, r2, d2, i2 = slow.step(actions)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(d1, d2)
        for a, b in zip(i1, i2, strict=True):
            _same_info(a, b)
        episodes_ended += int(d1.sum())
    assert episodes_ended == 3 * N
    # the sub-envs differ (seeds 11, 12, 13) and their skills are resampled per episode
    assert not np.array_equal(o1[0], o1[1])
    fast.close()
    slow.close()


def test_ppo_on_the_vector_collector_learns_exactly_as_on_the_single_env_path():
    """Same seed: the same rollout (observations, actions, term rewards incl. the relabelled LSD column,
    advantages) and the same weights after the update, whichever env carries it."""
    cfg = _cfg()
    models = []
    for env in (make_train_env(cfg), _single_path(cfg)):
        th.manual_seed(cfg.seed)
        model = build_model(cfg, env)
        model.learn(total_timesteps=cfg.n_steps * 2)  # two rollouts and two updates
        models.append(model)
    a, b = models
    for name in ("observations", "actions", "term_rewards", "advantages", "returns", "bootstrap"):
        np.testing.assert_array_equal(getattr(a.rollout_buffer, name), getattr(b.rollout_buffer, name), err_msg=name)
    assert np.abs(a.rollout_buffer.bootstrap).sum() > 0  # time-outs were bootstrapped
    for (k, p), (_, q) in zip(a.policy.state_dict().items(), b.policy.state_dict().items(), strict=True):
        th.testing.assert_close(p, q, rtol=0, atol=0, msg=k)


def test_n_envs_is_checked():
    with pytest.raises(DiscoveryError, match="multiple of n_envs"):
        check_config(_cfg(n_steps=61))
    with pytest.raises(DiscoveryError, match="only the ppo base"):
        check_config(_cfg(base="sac"))
    with pytest.raises(DiscoveryError, match="n_envs must be"):
        check_config(_cfg(n_envs=0))
    check_config(_cfg(base="sac", n_envs=None))  # sac: one env by default


def test_safety_as_a_constraint_is_checked_and_wired():
    with pytest.raises(DiscoveryError, match="safety critic of its own"):
        check_config(_cfg(algo="naive_sum", safety_budget=0.05))
    with pytest.raises(DiscoveryError, match="safety critic of its own"):
        check_config(_cfg(base="sac", n_envs=1, safety_budget=0.05))
    with pytest.raises(DiscoveryError, match="safety_budget must be"):
        check_config(_cfg(safety_budget=-1.0))
    cfg = _cfg(safety_budget=0.05, safety_lr=0.2)
    model = build_model(cfg, make_train_env(cfg))
    assert model.constraints == {model.term_names.index("safety"): (0.05, 0.2)}
    model.learn(total_timesteps=cfg.n_steps)  # one rollout: the multiplier moved from its start (weights.safety = 1)
    assert model.head_weights[model.term_names.index("safety")] != 1.0
