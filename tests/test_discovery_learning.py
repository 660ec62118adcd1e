"""A short LSD run through SLIM on a 2-D point world learns skills whose end states differ (~10 s)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from tests._extras import require

th = require("torch", extra="learn")
require("stable_baselines3", extra="learn")

from skill_rl.discovery import metrics  # noqa: E402
from skill_rl.discovery.env import SkillRewardWrapper  # noqa: E402
from skill_rl.discovery.slim import SLIM  # noqa: E402

th.set_num_threads(1)
N_SKILLS = 4


class PointWorld(gym.Env):
    """A point in [-1, 1]^2 starting at the origin; action = velocity (0.1 per step), 20 steps."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    obs_layout = {"point_pos": slice(0, 2)}  # noqa: RUF012

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.p = np.zeros(2, np.float32)
        self.t = 0
        return self.p.copy(), {}

    def step(self, action):
        self.p = np.clip(self.p + 0.1 * np.clip(action, -1, 1), -1, 1).astype(np.float32)
        self.t += 1
        return self.p.copy(), 0.0, False, self.t >= 20, {}


def _end_states(model, env) -> np.ndarray:
    finals = []
    for k in range(N_SKILLS):
        obs, _ = env.reset(seed=0, options={"skill": k})
        done = False
        while not done:
            obs, _, term, trunc, _ = env.step(model.predict(obs, deterministic=True)[0])
            done = term or trunc
        finals.append(obs[:2].copy())
    return np.stack(finals)


def test_lsd_learns_distinct_skills_on_a_point_world():
    env = SkillRewardWrapper(PointWorld(), N_SKILLS, True, ["discovery"], {})
    model = SLIM("MlpPolicy", env, term_names=["discovery"], learning_starts=200, batch_size=64, learning_rate=1e-3,
                 policy_kwargs={"net_arch": [64, 64]}, seed=0, device="cpu",
                 intrinsic={"discovery": {"kind": "lsd", "state_indices": [0, 1], "skill_slice": (2, 2 + N_SKILLS),
                                          "n_skills": N_SKILLS, "discrete": True, "hidden": [64, 64], "lr": 1e-3}})
    before = metrics.skill_distinctness(list(_end_states(model, env)[:, None]))
    model.learn(2000)
    finals = _end_states(model, env)
    after = metrics.skill_distinctness(list(finals[:, None]))
    assert before < 0.3, before
    assert after > 0.8, (after, finals.round(2).tolist())  # 4 skills ending far apart (max possible ~2.3)
    assert metrics.distinct_end_cells(list(finals[:, None]), cell=0.5) >= 3
