"""METRA: reward formula, the dual constraint, and a short run that learns z-aligned skills (continuous z)."""

from __future__ import annotations

import numpy as np
import pytest

from tests._extras import require

th = require("torch", extra="learn")
require("stable_baselines3", extra="learn")

from skill_rl.discovery.env import SkillRewardWrapper  # noqa: E402
from skill_rl.discovery.rewards import METRAReward  # noqa: E402
from skill_rl.discovery.slim import SLIM  # noqa: E402

from .test_discovery_learning import PointWorld  # noqa: E402

th.set_num_threads(1)


def test_metra_reward_formula_unit_z_and_discrete_mask():
    th.manual_seed(0)
    m = METRAReward([0, 1], slice(2, 4), 2, discrete=False, hidden=(16,))
    z = th.randn(8, 2) * 3
    obs, nxt = th.cat([th.randn(8, 2), z], 1), th.cat([th.randn(8, 2), z], 1)
    unit = z / z.norm(dim=-1, keepdim=True)
    expected = ((m.phi(nxt[:, :2]) - m.phi(obs[:, :2])) * unit).sum(-1)
    th.testing.assert_close(m.reward(obs, nxt), expected)
    d = METRAReward([0, 1], slice(2, 5), 3, discrete=True, hidden=(16,))
    zd = th.eye(3)[[0, 1, 2, 0]]
    o, o2 = th.cat([th.randn(4, 2), zd], 1), th.cat([th.randn(4, 2), zd], 1)
    mask = (zd - 1 / 3) * 1.5
    th.testing.assert_close(d.reward(o, o2), ((d.phi(o2[:, :2]) - d.phi(o[:, :2])) * mask).sum(-1))


def test_dual_lambda_rises_when_violated_and_falls_with_slack():
    th.manual_seed(0)
    far = METRAReward([0, 1], slice(2, 4), 2, discrete=False, hidden=(16,), lr=1e-3, dual_lam=1.0, dual_lr=0.1)
    with th.no_grad():  # make φ huge so every transition violates ‖Δφ‖² <= 1
        far.phi[-1].weight.mul_(100.0)
    z = th.randn(64, 2)
    obs, nxt = th.cat([th.zeros(64, 2), z], 1), th.cat([th.ones(64, 2) * 2, z], 1)
    lam0 = far.lam
    far.update(obs, nxt)
    assert far.lam > lam0
    near = METRAReward([0, 1], slice(2, 4), 2, discrete=False, hidden=(16,), lr=1e-3, dual_lam=1.0, dual_lr=0.1)
    same = th.cat([th.zeros(64, 2), z], 1)
    near.update(same, same)  # Δφ = 0: the constraint has slack ε > 0, so λ shrinks
    assert near.lam < 1.0
    assert near.penalty(th.zeros(3, 2)).tolist() == pytest.approx([1e-3] * 3)
    assert near.penalty(th.full((1, 2), 2.0)).item() == pytest.approx(1.0 - 8.0)


def test_metra_with_continuous_z_learns_skills_aligned_with_z():
    """2-D z ~ N(0, I) on the point world: after 2,500 steps the displacement follows z's direction."""
    env = SkillRewardWrapper(PointWorld(), 2, False, ["discovery"], {})
    model = SLIM("MlpPolicy", env, term_names=["discovery"], learning_starts=200, batch_size=64, learning_rate=1e-3,
                 policy_kwargs={"net_arch": [64, 64]}, seed=0, device="cpu",
                 intrinsic={"discovery": {"kind": "metra", "state_indices": [0, 1], "skill_slice": (2, 4),
                                          "n_skills": 2, "discrete": False, "hidden": [64, 64], "lr": 1e-3}})
    model.learn(2500)
    zs = [np.array([np.cos(a), np.sin(a)], np.float32) for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)]
    finals = []
    for z in zs:
        obs, _ = env.reset(seed=0, options={"skill": z})
        done = False
        while not done:
            obs, _, term, trunc, _ = env.step(model.predict(obs, deterministic=True)[0])
            done = term or trunc
        finals.append(obs[:2].copy())
    finals = np.stack(finals)
    spread = np.linalg.norm(finals - finals.mean(0), axis=1).mean()
    assert spread > 0.4, finals.round(2).tolist()  # skills end far apart (start: the origin for all)
    # a linear map from z to the end point explains most of the variance: z controls where the skill goes
    zmat = np.stack(zs)
    coef, *_ = np.linalg.lstsq(np.c_[zmat, np.ones(len(zs))], finals, rcond=None)
    resid = finals - np.c_[zmat, np.ones(len(zs))] @ coef
    r2 = 1 - (resid**2).sum() / ((finals - finals.mean(0)) ** 2).sum()
    assert r2 > 0.6, (r2, finals.round(2).tolist())
