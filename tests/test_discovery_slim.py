"""SLIM (multi-critic SAC): exact equivalence with SB3 SAC at K=1, per-head isolation, fixed points, buffer."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tests._extras import require

th = require("torch", extra="learn")
require("stable_baselines3", extra="learn")

from stable_baselines3 import SAC  # noqa: E402
from stable_baselines3.common.buffers import ReplayBuffer  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402
from stable_baselines3.common.type_aliases import ReplayBufferSamples  # noqa: E402

from skill_rl.discovery.critics import MultiCriticEnsemble  # noqa: E402
from skill_rl.discovery.slim import SLIM, MultiRewardReplayBuffer, MultiRewardSamples  # noqa: E402

th.set_num_threads(1)
OBS, ACT, B = 6, 3, 32
OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (OBS,), np.float32)
ACT_SPACE = gym.spaces.Box(-1.0, 1.0, (ACT,), np.float32)


class _Dummy(gym.Env):
    observation_space = OBS_SPACE
    action_space = ACT_SPACE

    def reset(self, *, seed=None, options=None):
        return np.zeros(OBS, np.float32), {}

    def step(self, action):
        return np.zeros(OBS, np.float32), 0.0, False, False, {}


def _batch(k: int, seed: int = 0):
    g = th.Generator().manual_seed(seed)
    obs = th.randn(B, OBS, generator=g)
    act = th.rand(B, ACT, generator=g) * 2 - 1
    nxt = th.randn(B, OBS, generator=g)
    done = (th.rand(B, 1, generator=g) < 0.2).float()
    rew = th.randn(B, k, generator=g)
    return obs, act, nxt, done, rew


def _silent(model):
    model.set_logger(configure(None, []))
    return model


NET = dict(net_arch=[16, 16])


def test_k1_reproduces_sb3_sac_update():
    sac = _silent(SAC("MlpPolicy", _Dummy(), policy_kwargs=NET, seed=0, batch_size=B, device="cpu"))
    slim = _silent(SLIM("MlpPolicy", _Dummy(), term_names=["r"], head_weights=[1.0], normalize="none",
                        entropy_heads="all", policy_kwargs=NET, seed=1, batch_size=B, device="cpu"))
    # same weights
    slim.actor.load_state_dict(sac.actor.state_dict())
    slim.critic.load_from_continuous_critic(sac.critic)
    slim.critic_target.load_from_continuous_critic(sac.critic_target)
    obs, act, nxt, done, rew = _batch(1)
    sac.replay_buffer.sample = lambda *a, **k: ReplayBufferSamples(obs, act, nxt, done, rew)
    slim.replay_buffer.sample = lambda *a, **k: MultiRewardSamples(obs, act, nxt, done, rew)
    for _ in range(2):  # two steps: also checks the Adam state and the Polyak update
        th.manual_seed(123)
        sac.train(gradient_steps=1, batch_size=B)
        th.manual_seed(123)
        slim.train(gradient_steps=1, batch_size=B)
    th.testing.assert_close(dict(slim.actor.state_dict()), dict(sac.actor.state_dict()), rtol=1e-5, atol=1e-6)
    for net_slim, net_sac in ((slim.critic, sac.critic), (slim.critic_target, sac.critic_target)):
        ref = MultiCriticEnsemble(OBS_SPACE, ACT_SPACE, [16, 16], net_slim.features_extractor, OBS, n_heads=1)
        ref.load_from_continuous_critic(net_sac)
        th.testing.assert_close(dict(net_slim.q_net.state_dict()), dict(ref.q_net.state_dict()), rtol=1e-5, atol=1e-6)
    th.testing.assert_close(slim.log_ent_coef, sac.log_ent_coef)


def _slim3(**kw):
    kw = {"term_names": ["a", "b", "c"], "policy_kwargs": NET, "seed": 0, "batch_size": B, "device": "cpu", **kw}
    return _silent(SLIM("MlpPolicy", _Dummy(), **kw))


def test_each_head_loss_reaches_only_its_own_parameters():
    """TorchRL-style: backpropagate each head's TD loss (the one train() uses) alone; only its slices move."""
    model = _slim3(entropy_heads="all")
    obs, act, nxt, done, rew = _batch(3)
    batch = MultiRewardSamples(obs, act, nxt, done, rew)
    per_head = model.critic_losses(batch, ent_coef=th.tensor(0.1), discounts=0.99)
    assert per_head.shape == (3,)
    params = list(model.critic.q_net.parameters())
    for h in range(3):
        model.critic.zero_grad(set_to_none=False)
        per_head[h].backward(retain_graph=True)
        for p in params:
            for other in range(3):
                block = p.grad[other * 2:(other + 1) * 2]
                if other == h:
                    assert block.abs().sum() > 0
                else:
                    assert th.count_nonzero(block) == 0
    assert all(p.grad is None for p in model.actor.parameters())  # the critic loss never reaches the actor


def test_zero_reward_critic_stays_at_fixed_point():
    """A head whose reward column is 0 and whose Q and target are 0 everywhere stays exactly 0."""
    model = _slim3(entropy_heads="first", learning_rate=1e-2)
    with th.no_grad():  # head 2: last layer zeroed -> Q_2 == 0 for all (s, a), in critic and target
        for net in (model.critic, model.critic_target):
            last = net.q_net.linears()[-1]
            last.weight[4:6].zero_()
            last.bias[4:6].zero_()
    before = [p[4:6].clone() for p in model.critic.q_net.parameters()]
    obs, act, nxt, done, rew = _batch(3)
    rew[:, 2] = 0.0
    model.replay_buffer.sample = lambda *a, **k: MultiRewardSamples(obs, act, nxt, done, rew)
    model.train(gradient_steps=5, batch_size=B)
    after = [p[4:6] for p in model.critic.q_net.parameters()]
    for b, a in zip(before, after, strict=True):
        assert th.equal(b, a)
    # the other heads did learn
    assert model.last_train_stats["train/critic_loss_head0"] > 0


def test_td_target_uses_own_reward_column():
    model = _slim3(entropy_heads="none", tau=0.0)
    obs, act, nxt, done, rew = _batch(3)
    done[:] = 1.0  # terminal: the target is the reward alone
    out = model.head_rewards(rew)
    assert out.shape == (3, B, 1)
    for h in range(3):
        th.testing.assert_close(out[h, :, 0], rew[:, h])
    naive = _slim3(head_matrix=[[1.0, 2.0, 3.0]])
    th.testing.assert_close(naive.head_rewards(rew)[0, :, 0], rew @ th.tensor([1.0, 2.0, 3.0]))


def test_reward_scale_does_not_change_normalised_actor_gradient():
    grads = []
    for scale in (1.0, 100.0):
        model = _slim3(normalize="batch_std", learning_rate=0.0)
        th.manual_seed(0)
        obs, *_ = _batch(3)
        with th.no_grad():  # scaling head 1's output layer = scaling its reward's Q
            last = model.critic.q_net.linears()[-1]
            last.weight[2:4] *= scale
            last.bias[2:4] *= scale
        th.manual_seed(1)
        actions_pi, _ = model.actor.action_log_prob(obs)
        q = model.critic(obs, actions_pi).min(dim=1).values
        loss = -(q / model._scales(q)).sum(0).mean()
        model.actor.zero_grad()
        loss.backward()
        grads.append(th.cat([p.grad.flatten() for p in model.actor.parameters() if p.grad is not None]))
    th.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_multi_reward_buffer_stores_vectors():
    buf = MultiRewardReplayBuffer(10, OBS_SPACE, ACT_SPACE, device="cpu", n_envs=2, n_rewards=3)
    assert isinstance(buf, ReplayBuffer)
    for i in range(4):
        infos = [{"reward_vector": np.array([i, 10 + i, 20 + i], np.float32)} for _ in range(2)]
        buf.add(np.zeros((2, OBS)), np.zeros((2, OBS)), np.zeros((2, ACT)), np.zeros(2), np.zeros(2), infos)
    s = buf.sample(8)
    assert isinstance(s, MultiRewardSamples) and s.rewards.shape == (8, 3)
    th.testing.assert_close(s.rewards[:, 1] - s.rewards[:, 0], th.full((8,), 10.0))
    with pytest.raises(ValueError, match="reward_vector"):
        buf.add(np.zeros((2, OBS)), np.zeros((2, OBS)), np.zeros((2, ACT)), np.zeros(2), np.zeros(2), [{}, {}])
