"""The batched K-head critic ensemble equals K separate SB3 critics with the same weights."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from tests._extras import require

th = require("torch", extra="learn")
require("stable_baselines3", extra="learn")

from stable_baselines3.common.policies import ContinuousCritic  # noqa: E402
from stable_baselines3.common.torch_layers import FlattenExtractor  # noqa: E402

from skill_rl.discovery.critics import EnsembleLinear, MultiCriticEnsemble  # noqa: E402

th.set_num_threads(1)
OBS_SPACE = gym.spaces.Box(-np.inf, np.inf, (5,), np.float32)
ACT_SPACE = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)


def test_ensemble_forward_matches_separate_critics():
    th.manual_seed(0)
    k = 3
    separate = [ContinuousCritic(OBS_SPACE, ACT_SPACE, [8, 8], FlattenExtractor(OBS_SPACE), 5) for _ in range(k)]
    ens = MultiCriticEnsemble(OBS_SPACE, ACT_SPACE, [8, 8], FlattenExtractor(OBS_SPACE), 5, n_heads=k)
    for h, c in enumerate(separate):
        ens.load_from_continuous_critic(c, head=h)
    obs, act = th.randn(7, 5), th.rand(7, 2) * 2 - 1
    q = ens(obs, act)
    assert q.shape == (k, 2, 7)
    for h, c in enumerate(separate):
        for i, qi in enumerate(c(obs, act)):
            th.testing.assert_close(q[h, i], qi[:, 0], rtol=1e-6, atol=1e-6)


def test_ensemble_linear_init_matches_nn_linear_distribution():
    layer = EnsembleLinear(4, 100, 50)
    bound = 1 / np.sqrt(100)
    assert layer.weight.abs().max() <= bound + 1e-6 and layer.bias.abs().max() <= bound + 1e-6
    assert not th.equal(layer.weight[0], layer.weight[1])  # members are independent draws


def test_shared_layout_one_trunk_per_twin_with_a_head_per_term():
    th.manual_seed(0)
    k = 3
    ens = MultiCriticEnsemble(OBS_SPACE, ACT_SPACE, [8, 8], FlattenExtractor(OBS_SPACE), 5, n_heads=k, layout="shared")
    obs, act = th.randn(7, 5), th.rand(7, 2) * 2 - 1
    q = ens(obs, act)
    assert q.shape == (k, 2, 7)
    # as many parameters as k-output twins: only the last layer grows with k
    sep = MultiCriticEnsemble(OBS_SPACE, ACT_SPACE, [8, 8], FlattenExtractor(OBS_SPACE), 5, n_heads=k)
    n_shared = sum(p.numel() for p in ens.parameters())
    assert n_shared == 2 * ((7 * 8 + 8) + (8 * 8 + 8) + (8 * k + k))
    assert n_shared < sum(p.numel() for p in sep.parameters())
    # head h's loss reaches only output column h of the last layer (the hidden layers are shared)
    q[1].sum().backward()
    last = ens.q_net.linears()[-1]
    assert last.weight.grad[:, :, [0, 2]].abs().sum() == 0 and last.weight.grad[:, :, 1].abs().sum() > 0
    with pytest.raises(ValueError, match="separate"):
        ens.member_parameters(0)
    with pytest.raises(ValueError, match="layout"):
        MultiCriticEnsemble(OBS_SPACE, ACT_SPACE, [8], FlattenExtractor(OBS_SPACE), 5, layout="tree")


def test_shared_layout_with_one_head_matches_an_sb3_critic():
    th.manual_seed(1)
    ref = ContinuousCritic(OBS_SPACE, ACT_SPACE, [8, 8], FlattenExtractor(OBS_SPACE), 5)
    ens = MultiCriticEnsemble(OBS_SPACE, ACT_SPACE, [8, 8], FlattenExtractor(OBS_SPACE), 5, n_heads=1, layout="shared")
    ens.load_from_continuous_critic(ref)
    obs, act = th.randn(4, 5), th.rand(4, 2) * 2 - 1
    q = ens(obs, act)
    for i, qi in enumerate(ref(obs, act)):
        th.testing.assert_close(q[0, i], qi[:, 0], rtol=1e-6, atol=1e-6)
