"""Reward terms (LSD, DIAYN, reach, safety), the skill wrapper, intrinsic relabelling, and the metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests._extras import require

th = require("torch", extra="learn")
require("stable_baselines3", extra="learn")

from skill_rl.discovery import metrics  # noqa: E402
from skill_rl.discovery.env import make_discovery_env  # noqa: E402
from skill_rl.discovery.rewards import (  # noqa: E402
    DIAYNReward,
    LSDReward,
    ReachReward,
    SafetyReward,
    default_object_keys,
    layout_indices,
)

th.set_num_threads(1)


def _obs(b, state_dim, z):
    return th.cat([th.randn(b, state_dim), z], dim=1)


def test_lsd_reward_formula_and_lipschitz():
    th.manual_seed(0)
    n, d = 4, 3
    lsd = LSDReward(list(range(d)), slice(d, d + n), n, discrete=True, hidden=(32, 32))
    z = th.eye(n)[th.randint(0, n, (64,))]
    obs, nxt = _obs(64, d, z), _obs(64, d, z)
    for _ in range(20):  # let the spectral-norm power iteration converge
        lsd.phi(th.randn(8, d))
    lsd.eval()
    r = lsd.reward(obs, nxt)
    zc = (z - 1 / n) * n / (n - 1)
    expected = ((lsd.phi(nxt[:, :d]) - lsd.phi(obs[:, :d])) * zc).sum(-1)
    th.testing.assert_close(r, expected)
    x, y = th.randn(256, d), th.randn(256, d)
    ratio = (lsd.phi(x) - lsd.phi(y)).norm(dim=-1) / (x - y).norm(dim=-1)
    assert ratio.max() <= 1.05
    # continuous z: z itself is the direction
    lsd_c = LSDReward(list(range(d)), slice(d, d + 2), 2, discrete=False, hidden=(8,)).eval()
    zc2 = th.randn(5, 2)
    o, o2 = _obs(5, d, zc2), _obs(5, d, zc2)
    th.testing.assert_close(lsd_c.reward(o, o2), ((lsd_c.phi(o2[:, :d]) - lsd_c.phi(o[:, :d])) * zc2).sum(-1))


def test_lsd_update_increases_its_reward():
    th.manual_seed(0)
    lsd = LSDReward([0, 1], slice(2, 4), 2, discrete=False, hidden=(32,), lr=1e-2)
    z = th.randn(128, 2)
    obs = th.cat([th.zeros(128, 2), z], 1)
    nxt = th.cat([z.clone(), z], 1)  # the state moved along z
    before = lsd.reward(obs, nxt).mean().item()
    for _ in range(30):
        lsd.update(obs, nxt)
    assert lsd.reward(obs, nxt).mean().item() > before + 0.1


def test_diayn_reward_is_log_n_for_a_perfect_classifier():
    n = 5
    diayn = DIAYNReward(list(range(n, 2 * n)), slice(n, 2 * n), n, discrete=True, hidden=(8,))
    diayn.q = th.nn.Linear(n, n)
    with th.no_grad():
        diayn.q.weight.copy_(50 * th.eye(n))
        diayn.q.bias.zero_()
    z = th.eye(n)
    obs = th.cat([th.zeros(n, n), z], 1)
    th.testing.assert_close(diayn.reward(obs, obs), th.full((n,), math.log(n)), atol=1e-4, rtol=0)
    loss0 = diayn.loss(obs, obs).item()
    assert loss0 < 1e-3


def test_slim_relabels_intrinsic_column_with_current_module():
    from skill_rl.discovery.slim import SLIM, MultiRewardSamples

    env = make_discovery_env("TabletopPush-v0", 2, True, ["discovery", "reach"], env_options={"max_episode_steps": 5})
    sk = env.obs_layout["skill"]
    idx = layout_indices(env.obs_layout, default_object_keys(env.obs_layout))
    model = SLIM("MlpPolicy", env, term_names=["discovery", "reach"], batch_size=8, device="cpu",
                 policy_kwargs={"net_arch": [8]},
                 intrinsic={"discovery": {"kind": "lsd", "state_indices": idx, "skill_slice": (sk.start, sk.stop),
                                          "n_skills": 2, "discrete": True, "hidden": [8]}})
    obs = th.randn(8, env.observation_space.shape[0])
    nxt = obs + 0.1 * th.randn_like(obs)
    batch = MultiRewardSamples(obs, th.zeros(8, 7), nxt, th.zeros(8, 1), th.zeros(8, 2))
    out, stats = model.relabel(batch)
    expected = model.intrinsic["discovery"].relabel(obs, nxt)
    assert model.intrinsic["discovery"].training  # relabel leaves the mode as it was
    th.testing.assert_close(out.rewards[:, 0], expected)
    th.testing.assert_close(out.rewards[:, 1], th.zeros(8))
    assert "discovery/loss" in stats
    env.close()


def test_wrapper_skill_and_reward_vector():
    env = make_discovery_env("TabletopPush-v0", 3, True, ["discovery", "reach", "safety"],
                             env_options={"max_episode_steps": 4})
    base = env.unwrapped.obs_dim
    obs, info = env.reset(seed=0, options={"skill": 2})
    assert obs.shape == (base + 3,) and env.observation_space.contains(obs)
    np.testing.assert_array_equal(obs[base:], [0, 0, 1])
    lay = env.obs_layout
    for _ in range(4):
        obs, r, term, trunc, info = env.step(np.zeros(7, np.float32))
    v = info["reward_vector"]
    assert v.shape == (3,) and v[0] == 0.0  # discovery: relabelled at train time
    dist = np.linalg.norm(obs[lay["eef_pos"]] - obs[lay["cube_pos"]])
    assert v[1] == pytest.approx(-dist, rel=1e-5)
    assert r == pytest.approx(v[1] + v[2])
    assert trunc and set(info["episode_reward_terms"]) == {"reach", "safety"}
    env.reset(seed=1)
    assert env.skill.sum() == 1.0
    cont = make_discovery_env("TabletopReach-v0", 2, False, ["discovery"])
    o, _ = cont.reset(seed=0)
    assert o.shape[0] == cont.unwrapped.obs_dim + 2 and np.any(o[-2:] != 0)
    env.close()
    cont.close()


def test_reach_and_safety_terms():
    reach = ReachReward([0, 1, 2], [3, 4, 5], contact_bonus=0.5)
    obs = np.array([[0, 0, 0, 3, 4, 0]], np.float32)
    assert reach(obs)[0] == pytest.approx(-5.0)
    assert reach(obs, np.array([True]))[0] == pytest.approx(-4.5)
    limits = np.array([[-1.0, 1.0]] * 2)
    safety = SafetyReward([0, 1], [2, 3], [4, 5, 6], limits, max_joint_vel=2.0, table_half_xy=(0.5, 0.5))
    ok = np.array([0, 0, 0, 0, 0.1, 0.1, 0.02])
    near_limit = ok.copy()
    near_limit[0] = 0.95
    fast = ok.copy()
    fast[3] = -3
    off = ok.copy()
    off[4] = 0.7
    batch = np.stack([ok, near_limit, fast, off])
    v = safety.violations(batch, np.array([False, False, False, True]))
    np.testing.assert_array_equal(v, [[0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1]])
    np.testing.assert_allclose(safety(batch, np.array([False, False, False, True])), [0, -1, -1, -2])
    np.testing.assert_allclose(safety(batch), [0, -1, -1, -1])  # no contact information: that term is 0


def test_metrics():
    final = np.array([[0.01, 0.01], [0.02, 0.03], [0.25, 0.01], [-0.15, 0.3]])
    assert metrics.object_coverage(final, cell=0.1) == 3
    assert metrics.skill_distinctness([final[:2], final[:2]]) == 0.0
    assert metrics.skill_distinctness([np.zeros((1, 2)), np.array([[3.0, 4.0]])]) == pytest.approx(5.0)
    assert metrics.safety_violation_rate(np.array([[0, 0], [1, 0], [0, 0], [1, 1]], bool)) == 0.5
    assert metrics.mean_object_displacement(np.zeros((2, 2)), np.array([[3, 4], [0, 1]])) == pytest.approx(3.0)
    assert metrics.grasp_consistency([True, False, False, True]) == 0.5
    s = metrics.summarize(np.zeros((4, 2)), final, np.array([0, 0, 1, 1]), np.zeros((5, 4), bool), [False] * 4)
    assert s["object_coverage"] == 3 and s["distinct_end_cells"] == 2 and s["safety_violation_rate"] == 0


def test_diayn_continuous_formula():
    diayn = DIAYNReward([0, 1], slice(2, 4), 2, discrete=False, hidden=(8,))
    obs = th.randn(6, 4)
    nxt = th.randn(6, 4)
    mu = diayn.q(nxt[:, :2])
    z = obs[:, 2:]
    expected = 0.5 * ((z**2).sum(-1) - ((z - mu) ** 2).sum(-1))
    th.testing.assert_close(diayn.reward(obs, nxt), expected, rtol=1e-5, atol=1e-5)
