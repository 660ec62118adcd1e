"""Planning over discovered skills: CEM over (z, duration), the skill dynamics model, library skills, bad input."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest

from tests._extras import require

th = require("torch", extra="learn")

from skill_rl.planning.skill_cem import (  # noqa: E402
    CEMConfig,
    SkillDynamicsModel,
    SkillPlanError,
    check_goal,
    collect_transitions,
    plan_cem,
    reach_goal,
)

th.set_num_threads(1)
SPEED = 0.004  # m per step of the analytic skills
DIRS = np.array([[1, 0], [-1, 0], [0, 1], [0, -1]], np.float64)


def _analytic(z: np.ndarray, d: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Skill z moves the object along z's xy direction (unit), SPEED m per step, for d steps."""
    z = np.asarray(z, np.float64)[:, :2]
    u = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-9)
    return start + u * SPEED * np.asarray(d, np.float64)[:, None]


@pytest.mark.parametrize("discrete", [True, False])
def test_mpc_with_cem_over_a_known_skill_model_reaches_goals(discrete):
    rng = np.random.default_rng(0)
    choices = np.eye(4, dtype=np.float32) @ np.c_[DIRS, np.zeros((4, 2))].astype(np.float32) if discrete else None
    reached = 0
    for _ in range(20):
        xy = rng.uniform(-0.1, 0.1, 2)
        goal = xy + rng.uniform(-0.15, 0.15, 2)
        for _seg in range(6):
            if np.linalg.norm(xy - goal) <= 0.05:
                break
            z, d, cost = plan_cem(lambda zz, dd, xy=xy: _analytic(zz, dd, xy), goal, 4, choices, rng,
                                  CEMConfig(durations=(1, 40)))
            assert z.shape == (4,) and 1 <= d <= 40
            predicted = _analytic(z[None], [d], xy)[0]
            assert cost == pytest.approx(np.linalg.norm(predicted - goal), abs=1e-9)
            xy = predicted + rng.normal(0, 0.002, 2)  # the world follows the model, with a little noise
        reached += np.linalg.norm(xy - goal) <= 0.05
    assert reached == 20
    if not discrete:  # one planning step already points z at the goal
        z, d, _ = plan_cem(lambda zz, dd: _analytic(zz, dd, np.zeros(2)), [0.1, 0.05], 4, None, rng,
                           CEMConfig(durations=(1, 40)))
        assert np.dot(z[:2] / np.linalg.norm(z[:2]), np.array([0.1, 0.05]) / np.hypot(0.1, 0.05)) > 0.95


# ----------------------------------------------------------------------------- a point world with known skills
LAYOUT = {"eef_pos": slice(0, 3), "gripper_qpos": slice(3, 5), "cube_pos": slice(5, 8), "cube_quat": slice(8, 12)}


class PointPush(gym.Env):
    """The object moves SPEED m per step along the action's direction; the gripper rides 5 cm above it."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (12,), np.float32)
    action_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    obs_layout = LAYOUT

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.xy = self.np_random.uniform(-0.1, 0.1, 2)
        return self._obs(), {}

    def _obs(self):
        o = np.zeros(12, np.float32)
        o[0:2], o[2] = self.xy, 0.07
        o[3:5] = 0.04
        o[5:7], o[7] = self.xy, 0.02
        o[8] = 1.0
        return o

    def step(self, action):
        a = np.asarray(action, np.float64)
        self.xy = self.xy + SPEED * a / max(np.linalg.norm(a), 1e-9)
        return self._obs(), 0.0, False, False, {}


@dataclass
class Push:
    z: np.ndarray
    horizon: int

    def act(self, obs):
        return np.asarray(self.z[:2], np.float32)


@dataclass
class KnownSkills:
    discrete: bool = True
    z_dim: int = 4
    horizon: int = 40

    @property
    def choices(self):
        return np.c_[DIRS, np.zeros((4, 2))].astype(np.float32)

    def load(self, env, z, duration):
        return Push(np.asarray(z, np.float32), int(duration))


def test_dynamics_model_fits_and_mpc_over_it_reaches_goals():
    env, skills = PointPush(), KnownSkills()
    data = collect_transitions(env, lambda rng: skills.choices[rng.integers(4)], skills.load, 3000, seed=0,
                               durations=(3, 30))
    assert data["obs"].shape == (3000, 12) and data["z"].shape == (3000, 4) and data["xy"].shape == (3000, 2)
    assert data["d"].min() == 1 and data["d"].max() <= 30
    model = SkillDynamicsModel(LAYOUT, 4, d_max=30, hidden=64)
    report = model.fit(data, epochs=300, seed=0)
    assert report["heldout_error_m"] < 0.2 * report["stay_put_error_m"]  # far better than "nothing moves"
    rng = np.random.default_rng(1)
    wins = 0
    for g in range(10):
        obs, _ = env.reset(seed=100 + g)
        goal = obs[5:7] + rng.uniform(-0.12, 0.12, 2)
        ep = reach_goal(env, skills, model, goal, seed=100 + g, rng=rng, obs=obs,
                        cem=CEMConfig(durations=(3, 30)))
        wins += ep.success
        assert ep.steps > 0 or ep.start_distance <= 0.05
    assert wins >= 9


def test_bad_goals_and_z_shapes_are_clear_errors():
    with pytest.raises(SkillPlanError, match="off the table"):
        check_goal([0.9, 0.0])
    with pytest.raises(SkillPlanError, match="x, y"):
        check_goal([0.1, 0.2, 0.3])
    with pytest.raises(SkillPlanError, match="x, y"):
        check_goal([np.nan, 0.0])
    model = SkillDynamicsModel(LAYOUT, 4, d_max=30, hidden=8)
    obs = PointPush().reset(seed=0)[0]
    assert model.predict(obs, np.zeros(4), [5]).shape == (1, 2)
    with pytest.raises(SkillPlanError, match=r"z must have shape \(B, 4\)"):
        model.predict(obs, np.zeros(3), [5])
    with pytest.raises(SkillPlanError, match="choices"):
        plan_cem(lambda z, d: np.zeros((len(z), 2)), [0.0, 0.0], 4, np.eye(3), np.random.default_rng(0))
    with pytest.raises(SkillPlanError, match="off the table"):
        reach_goal(PointPush(), KnownSkills(), model, [0.0, 0.7], seed=0, rng=np.random.default_rng(0))


def test_exported_discovery_skills_load_in_the_library_and_run_in_the_planner(tmp_path):
    require("stable_baselines3", extra="learn")
    from skill_rl import envs
    from skill_rl.discovery.export import export_run
    from skill_rl.discovery.train import DiscoveryConfig, run_discovery
    from skill_rl.library import SkillLibrary
    from skill_rl.planning.skill_cem import DiscoveredSkills, fit_for_skills, sample_goal

    summary = run_discovery(DiscoveryConfig(debug=True, video=False, run_root=str(tmp_path / "runs"), device="cpu"),
                            progress=False)
    lib = SkillLibrary(tmp_path / "lib")
    export_run(summary["run_dir"], lib)
    skills = DiscoveredSkills.from_library(lib, run_dir=str(summary["run_dir"]))
    assert skills.discrete and skills.z_dim == len(skills.entries) == 2
    env = envs.make("TabletopPush-v0", max_episode_steps=400)
    try:
        with pytest.raises(SkillPlanError, match="z must be 2"):
            skills.load(env, np.zeros(3), 5)
        model = fit_for_skills(env, skills, n_steps=240, seed=0, durations=(3, 12), epochs=20, hidden=16)
        assert np.isfinite(model.report["heldout_error_m"])
        obs, _ = env.reset(seed=7)
        goal = sample_goal(np.random.default_rng(0), obs[env.unwrapped.obs_layout["cube_pos"]])
        ep = reach_goal(env, skills, model, goal, seed=7, rng=np.random.default_rng(0), max_segments=2,
                        cem=CEMConfig(samples=16, elites=4, iterations=2, durations=(3, 12)))
        assert 2 * 3 <= ep.steps <= 2 * 12 and len(ep.predicted_errors) == 2
    finally:
        env.close()
    with pytest.raises(SkillPlanError, match="no discovered"):
        DiscoveredSkills.from_library(SkillLibrary(tmp_path / "empty"))
