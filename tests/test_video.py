"""skill_rl.envs.video: writing .mp4/.gif and filming an episode (a stub env: no MuJoCo needed)."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

from skill_rl.envs.video import record_episode, run_episode, write_video


def frames(n=5, h=24, w=32):
    return [np.full((h, w, 3), 20 * i, dtype=np.uint8) for i in range(n)]


@pytest.mark.parametrize("ext", [".mp4", ".gif"])
def test_write_video_round_trip(tmp_path, ext):
    path = write_video(frames(), tmp_path / f"v{ext}", fps=10)
    back = iio.imread(path)
    assert back.shape[0] == 5 and back.shape[1:3] == (24, 32)
    assert [p.name for p in tmp_path.iterdir()] == [f"v{ext}"]


def test_odd_sizes_and_rgba(tmp_path):
    rgba = [np.zeros((25, 33, 4), dtype=np.uint8)] * 3
    path = write_video(rgba, tmp_path / "odd.mp4", fps=5)
    assert iio.imread(path).shape[1:3] == (26, 34)


@pytest.mark.parametrize(
    ("frames_", "match"),
    [
        ([], "no frames"),
        ([np.zeros((4, 4), np.uint8)], r"shape \(4, 4\)"),
        ([np.zeros((4, 4, 3), np.float32)], "dtype float32"),
        ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)], "frame 1 has shape"),
    ],
)
def test_bad_frames(tmp_path, frames_, match):
    with pytest.raises(ValueError, match=match):
        write_video(frames_, tmp_path / "v.mp4")
    assert not list(tmp_path.iterdir())


def test_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match=r"unsupported video extension '.avi'.*\.mp4, \.gif"):
        write_video(frames(), tmp_path / "v.avi")


class StubEnv:
    """Counts to 10; success from step 3; renders a frame whose brightness is the step."""

    metadata = {"render_fps": 10}

    def __init__(self, render_mode="rgb_array"):
        self.render_mode = render_mode
        self.t = 0

    def reset(self, seed=None):
        self.t = 0
        return np.zeros(1), {"is_success": False}

    def step(self, action):
        self.t += 1
        return np.full(1, self.t), 1.0, False, self.t >= 10, {"is_success": self.t >= 3}

    def render(self):
        return np.full((8, 8, 3), self.t, dtype=np.uint8)


class Expert:
    def __init__(self):
        self.resets = 0

    def reset(self):
        self.resets += 1

    def act(self, obs):
        return np.zeros(2)


def test_run_episode_and_record(tmp_path):
    stats, fr = run_episode(StubEnv(), lambda obs: 0, seed=0)
    assert stats == {"return": 10.0, "success": True, "length": 10} and fr == []
    expert = Expert()
    stats, fr = run_episode(StubEnv(), expert, max_steps=4, render=True)
    assert stats["length"] == 4 and len(fr) == 5 and expert.resets == 1
    out = record_episode(StubEnv(), expert, tmp_path / "ep.gif", seed=1)
    assert out["length"] == 10 and out["success"] and (tmp_path / "ep.gif").exists()


def test_record_needs_rgb_array(tmp_path):
    with pytest.raises(ValueError, match="render_mode='rgb_array'"):
        record_episode(StubEnv(render_mode=None), lambda o: 0, tmp_path / "x.mp4")
