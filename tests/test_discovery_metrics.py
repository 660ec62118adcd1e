"""Skill metrics (held-out distinctness, violations), the report plots and the skill video grid."""

from __future__ import annotations

import csv

import gymnasium as gym
import numpy as np
import pytest

from skill_rl.discovery import metrics
from skill_rl.discovery.report import plot_end_positions, plot_reward_terms, skill_video_grid, tile_frames


def test_classifier_accuracy_separable_vs_identical_skills():
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(4), 5)
    centres = np.array([[1, 0], [0, 1], [-1, 0], [0, -1]], float)
    separable = centres[ids] + 0.05 * rng.standard_normal((20, 2))
    assert metrics.skill_classifier_accuracy(separable, ids) == 1.0
    identical = 0.05 * rng.standard_normal((20, 2))  # every skill does the same thing
    assert metrics.skill_classifier_accuracy(identical, ids) < 0.6
    # same starts for every skill, identical behaviour: leaving a start out gives exactly chance
    starts = np.tile(np.arange(5), 4)
    same = rng.standard_normal((5, 3))[starts]
    assert metrics.skill_classifier_accuracy(same, ids, starts) == pytest.approx(0.25)
    assert metrics.skill_classifier_accuracy(same + 3 * centres[ids].repeat(2, 1)[:, :3], ids, starts) == 1.0
    # one rollout per skill: nothing to hold out
    assert np.isnan(metrics.skill_classifier_accuracy(centres, np.arange(4)))
    with pytest.raises(ValueError, match="features must be"):
        metrics.skill_classifier_accuracy(np.zeros(3), ids)


def test_trajectory_features_pick_evenly_spaced_states():
    traj = np.arange(11, dtype=float)[:, None] * np.ones((1, 2))
    f = metrics.trajectory_features(traj, n_points=3)
    assert f.tolist() == [1, 1, 6, 6, 10, 10]
    with pytest.raises(ValueError, match="non-empty"):
        metrics.trajectory_features(np.zeros((0, 2)))


def test_summarize_reports_distinctness_and_episode_violations():
    final = np.array([[0.0, 0.0], [0.01, 0.0], [0.3, 0.0], [0.31, 0.0]])
    s = metrics.summarize(np.zeros((4, 2)), final, np.array([0, 0, 1, 1]), np.zeros((5, 4), bool), [True] * 4,
                          features=final, episode_violations=[True, False, False, False])
    assert s["skill_classifier_accuracy"] == 1.0 and s["skill_classifier_chance"] == 0.5
    assert s["episodes_with_violation"] == 0.25
    assert s["skill_distinctness"] == pytest.approx(0.3, abs=0.01)


def test_summarize_reports_each_violation_kind():
    v = np.zeros((10, 4), bool)
    v[:3, 3] = True  # arm-table contact on 3 of 10 steps
    v[2:4, 1] = True  # joint speed on 2 (one step has both)
    s = metrics.summarize(np.zeros((2, 2)), np.zeros((2, 2)), np.array([0, 1]), v, [False, False])
    assert s["safety_violation_rate"] == pytest.approx(0.4)
    assert s["violation_rate_arm_table_contact"] == pytest.approx(0.3)
    assert s["violation_rate_joint_velocity"] == pytest.approx(0.2)
    assert s["violation_rate_joint_limit"] == 0.0 and s["violation_rate_object_off_table"] == 0.0


def test_plots_are_written(tmp_path):
    rng = np.random.default_rng(0)
    p = plot_end_positions(rng.uniform(-0.1, 0.1, (6, 2)), rng.uniform(-0.3, 0.3, (6, 2)), np.repeat([0, 1, 2], 2),
                           tmp_path / "plots" / "end.png", table_half_xy=(0.4, 0.5))
    assert p.is_file() and p.read_bytes()[:4] == b"\x89PNG"
    csv_path = tmp_path / "metrics.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "tag", "value", "wall_time"])
        for step in range(10, 200, 10):
            w.writerow([step, "episode/reach_return", -step / 10, 0])
            w.writerow([step, "episode/discovery_return", step / 100, 0])
            w.writerow([step, "train/critic_loss_head0", 1 / step, 0])
    out = plot_reward_terms(csv_path, tmp_path / "plots" / "terms.png")
    assert out is not None and out.stat().st_size > 1000
    empty = tmp_path / "empty.csv"
    empty.write_text("step,tag,value,wall_time\n")
    assert plot_reward_terms(empty, tmp_path / "none.png") is None


class _Painted(gym.Env):
    """A point whose rendered frame is a 24x32 image with a bright pixel where the point is."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    render_mode = "rgb_array"
    metadata = {"render_fps": 10}  # noqa: RUF012

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.p, self.t = np.zeros(2, np.float32), 0
        return self.p.copy(), {}

    def step(self, action):
        self.p = np.clip(self.p + 0.2 * np.asarray(action, np.float32), -1, 1)
        self.t += 1
        return self.p.copy(), 0.0, False, self.t >= 5, {}

    def render(self):
        img = np.zeros((24, 32, 3), np.uint8)
        r, c = int((self.p[1] + 1) * 11.5), int((self.p[0] + 1) * 15.5)
        img[r, c] = 255
        return img


def test_tile_frames_and_video_grid(tmp_path):
    from skill_rl.discovery.env import SkillRewardWrapper

    grid = tile_frames([np.full((4, 6, 3), i, np.uint8) for i in range(3)])
    assert grid.shape == (8, 12, 3) and grid[0, 0, 0] == 0 and grid[0, 6, 0] == 1 and grid[4, 0, 0] == 2
    assert grid[4, 6:].max() == 0  # the empty fourth cell stays black
    env = SkillRewardWrapper(_Painted(), 2, True, ["discovery"], {})
    moves = {0: np.array([1, 0], np.float32), 1: np.array([0, 1], np.float32)}
    path = skill_video_grid(env, lambda obs: moves[int(np.argmax(obs[2:]))], [("z=0", 0), ("z=1", 1)],
                            tmp_path / "skills.gif")
    assert path.is_file()
    from PIL import Image

    with Image.open(path) as im:
        assert im.n_frames == 6 and im.size == (64, 24)  # reset + 5 steps, two tiles side by side
