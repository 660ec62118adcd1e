"""SLIM's on-policy form (PPO with K value heads): K=1 equals SB3's PPO update; per-head GAE; normalisation."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tests._extras import require

th = require("torch", extra="learn")
require("stable_baselines3", extra="learn")

from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402

from skill_rl.discovery.env import SkillRewardWrapper  # noqa: E402
from skill_rl.discovery.ppo import MultiHeadPPO, MultiHeadRolloutBuffer  # noqa: E402

from .test_discovery_learning import PointWorld  # noqa: E402

th.set_num_threads(1)
OBS, ACT, N = 5, 2, 64


class _Dummy(gym.Env):
    observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (ACT,), np.float32)

    def reset(self, *, seed=None, options=None):
        return np.zeros(OBS, np.float32), {}

    def step(self, action):
        return np.zeros(OBS, np.float32), 0.0, False, False, {}


def _fill(model, k: int, seed: int = 0):
    """The same random rollout into either model's buffer (values from the model's own value head)."""
    rng = np.random.default_rng(seed)
    th.manual_seed(seed)  # same sampled actions for both models
    buf = model.rollout_buffer
    buf.reset()
    obs = rng.standard_normal((N, 1, OBS)).astype(np.float32)
    for t in range(N):
        o = th.as_tensor(obs[t])
        with th.no_grad():
            actions, values, log_probs = model.policy(o)
        reward = rng.standard_normal((1, k)).astype(np.float32)
        start = np.array([t % 16 == 0], np.float32)
        if isinstance(buf, MultiHeadRolloutBuffer):
            buf.add(obs[t], actions.numpy(), reward, start, values, log_probs)
        else:
            buf.add(obs[t], actions.numpy(), reward[:, 0], start, values, log_probs)
    with th.no_grad():
        last = model.policy.predict_values(th.as_tensor(obs[-1]))
    buf.compute_returns_and_advantage(last_values=last, dones=np.array([False]))


def test_k1_reproduces_sb3_ppo_update_on_the_same_batch():
    kw = dict(n_steps=N, batch_size=16, n_epochs=2, seed=0, device="cpu", policy_kwargs={"net_arch": [16, 16]})
    ref = PPO("MlpPolicy", _Dummy(), **kw)
    ours = MultiHeadPPO("MlpPolicy", _Dummy(), term_names=["reward"], **kw)
    ours.policy.load_state_dict(ref.policy.state_dict())
    for m in (ref, ours):
        m.set_logger(configure(None, []))
        m._current_progress_remaining = 1.0
    _fill(ref, 1)
    _fill(ours, 1)
    np.testing.assert_allclose(ours.rollout_buffer.advantages[..., 0], ref.rollout_buffer.advantages, rtol=1e-6)
    np.random.seed(3)
    ref.train()
    np.random.seed(3)
    ours.train()
    for (name, a), (_, b) in zip(ref.policy.state_dict().items(), ours.policy.state_dict().items(), strict=True):
        th.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)


def test_naive_sum_head_matrix_equals_sb3_ppo_on_the_summed_reward():
    """``head_matrix=[w]``: one value head trained on ``w·r``, the same update as SB3's PPO on that reward."""
    kw = dict(n_steps=N, batch_size=16, n_epochs=2, seed=0, device="cpu", policy_kwargs={"net_arch": [16, 16]})
    w = np.array([1.0, -2.0, 0.5], np.float32)
    ref = PPO("MlpPolicy", _Dummy(), **kw)
    ours = MultiHeadPPO("MlpPolicy", _Dummy(), term_names=["a", "b", "c"], head_matrix=[w.tolist()], head_weights=[1.0],
                        **kw)
    assert ours.policy.value_net.out_features == 1
    ours.policy.load_state_dict(ref.policy.state_dict())
    for m in (ref, ours):
        m.set_logger(configure(None, []))
        m._current_progress_remaining = 1.0
    _fill(ours, 3)
    rng_rewards = ours.rollout_buffer.term_rewards[:, 0, :] @ w  # the summed reward the reference must see
    buf = ref.rollout_buffer
    buf.reset()
    th.manual_seed(0)
    obs = np.random.default_rng(0).standard_normal((N, 1, OBS)).astype(np.float32)
    for t in range(N):
        with th.no_grad():
            actions, values, log_probs = ref.policy(th.as_tensor(obs[t]))
        buf.add(obs[t], actions.numpy(), rng_rewards[t:t + 1], np.array([t % 16 == 0], np.float32), values, log_probs)
    with th.no_grad():
        last = ref.policy.predict_values(th.as_tensor(obs[-1]))
    buf.compute_returns_and_advantage(last_values=last, dones=np.array([False]))
    np.testing.assert_allclose(ours.rollout_buffer.advantages[..., 0], buf.advantages, rtol=1e-5, atol=1e-6)
    np.random.seed(3)
    ref.train()
    np.random.seed(3)
    ours.train()
    for (name, a), (_, b) in zip(ref.policy.state_dict().items(), ours.policy.state_dict().items(), strict=True):
        th.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)


def test_head_matrix_shape_is_checked():
    with pytest.raises(ValueError, match="head_matrix"):
        MultiHeadPPO("MlpPolicy", _Dummy(), term_names=["a", "b"], head_matrix=[[1.0, 2.0, 3.0]], n_steps=8,
                     batch_size=8, device="cpu")


def test_per_head_gae_uses_each_heads_rewards_and_values():
    buf = MultiHeadRolloutBuffer(3, _Dummy.observation_space, _Dummy.action_space, "cpu", gae_lambda=0.5, gamma=0.9,
                                 n_heads=2)
    rewards = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32)
    values = np.array([[0.5, 0.0], [0.2, 1.0], [0.1, 0.3]], np.float32)
    for t in range(3):
        buf.add(np.zeros((1, OBS)), np.zeros((1, ACT)), rewards[t:t + 1], np.array([t == 0], np.float32),
                th.as_tensor(values[t:t + 1]), th.zeros(1))
    buf.compute_returns_and_advantage(th.tensor([[0.4, -1.0]]), np.array([False]))
    for k in range(2):  # hand-computed GAE per head
        v = np.r_[values[:, k], [0.4, -1.0][k]]
        delta = rewards[:, k] + 0.9 * v[1:] - v[:-1]
        adv = np.zeros(3)
        acc = 0.0
        for t in reversed(range(3)):
            acc = delta[t] + 0.9 * 0.5 * acc
            adv[t] = acc
        np.testing.assert_allclose(buf.advantages[:, 0, k], adv, rtol=1e-5)
        np.testing.assert_allclose(buf.returns[:, 0, k], adv + values[:, k], rtol=1e-5)


def test_combined_advantage_is_scale_free_per_head():
    model = MultiHeadPPO("MlpPolicy", _Dummy(), term_names=["a", "b"], head_weights=[1.0, 2.0], n_steps=8,
                         batch_size=8, device="cpu")
    adv = th.randn(32, 2)
    scaled = adv * th.tensor([100.0, 0.01]) + th.tensor([5.0, -3.0])  # any per-head scale and offset
    th.testing.assert_close(model.combine_advantages(scaled), model.combine_advantages(adv), rtol=1e-4, atol=1e-4)
    assert model.policy.value_net.out_features == 2


def test_constrained_head_weight_follows_dual_ascent(tmp_path):
    """Safety as a constraint: the head's weight rises while the rollout's mean cost is above the budget,
    falls (never below 0) when below, and survives a save/load."""
    model = MultiHeadPPO("MlpPolicy", _Dummy(), term_names=["a", "safety"], head_weights=[1.0, 1.0], n_steps=8,
                         batch_size=8, device="cpu", constraints={1: (0.1, 0.5)})
    buf = model.rollout_buffer
    buf.term_rewards[..., 1] = -0.5  # cost 0.5 per step, budget 0.1
    stats = model.update_multipliers(buf)
    assert model.head_weights[1] == pytest.approx(1.0 + 0.5 * 0.4)
    assert stats["train/constraint_cost_head1"] == pytest.approx(0.5)
    assert model.head_weights[0] == 1.0  # unconstrained heads keep their weight
    buf.term_rewards[..., 1] = 0.0  # no violations: the multiplier decays (by lr * budget) to 0 and stays there
    for _ in range(30):
        model.update_multipliers(buf)
    assert model.head_weights[1] == 0.0
    buf.term_rewards[..., 1] = -0.3
    model.update_multipliers(buf)
    model.save(tmp_path / "m.zip")
    loaded = MultiHeadPPO.load(tmp_path / "m.zip", device="cpu")
    assert loaded.head_weights[1] == pytest.approx(0.1)
    loaded.rollout_buffer.term_rewards[..., 1] = -0.3
    loaded.update_multipliers(loaded.rollout_buffer)  # the stored constraint still applies after reloading
    assert loaded.head_weights[1] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="constraints name heads"):
        MultiHeadPPO("MlpPolicy", _Dummy(), term_names=["a"], n_steps=8, batch_size=8, constraints={3: (0.1, 0.5)})


def test_multihead_ppo_learns_with_lsd_and_an_extra_term():
    """A short run on the point world: discovery (LSD, relabelled per rollout) + a 'stay near the origin'
    term in separate heads; it runs end to end and the discovery head's reward rises."""
    def near(obs, info):
        return -float(np.abs(obs[:2]).sum()) * 0.1

    env = SkillRewardWrapper(PointWorld(), 4, True, ["discovery", "near"], {"near": near})
    model = MultiHeadPPO("MlpPolicy", env, term_names=["discovery", "near"], n_steps=256, batch_size=64, n_epochs=4,
                         learning_rate=1e-3, seed=0, device="cpu", policy_kwargs={"net_arch": [32, 32]},
                         intrinsic={"discovery": {"kind": "lsd", "state_indices": [0, 1], "skill_slice": (2, 6),
                                                  "n_skills": 4, "discrete": True, "hidden": [32, 32], "lr": 1e-3}},
                         intrinsic_epochs=2)
    model.learn(512)
    first = model.last_train_stats["train/discovery/reward"]
    model.learn(2048, reset_num_timesteps=False)
    assert model.last_train_stats["train/discovery/reward"] > first
    assert np.isfinite(model.last_train_stats["train/value_loss_head1"])
    assert model.rollout_buffer.rewards.shape == (256, 1, 2)
