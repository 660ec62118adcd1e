"""The contract every skill_rl env meets, whatever simulator is behind it.

Used by test_conformance.py over every registered id; a new backend passes these before it is registered.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env

ROBOT_FIELDS = (("joint_pos", 7), ("joint_vel", 7), ("eef_pos", 3), ("eef_quat", 4), ("gripper_qpos", 2))


def check_api(env: gym.Env) -> None:
    """Gymnasium's own checker (spaces, seeding, reset/step signatures), without its render check."""
    check_env(env.unwrapped, skip_render_check=True)


def check_layout(env: gym.Env) -> None:
    """Flat obs, documented layout: robot fields first, in order, contiguous, covering the whole vector."""
    base = env.unwrapped
    layout = base.obs_layout
    names = list(layout)
    assert tuple((n, layout[n].stop - layout[n].start) for n in names[: len(ROBOT_FIELDS)]) == ROBOT_FIELDS
    start = 0
    for name in names:
        assert layout[name].start == start, f"field {name} is not contiguous"
        start = layout[name].stop
    obs, _ = env.reset(seed=0)
    state = obs["state"] if isinstance(obs, dict) else obs
    assert state.shape == (start,), f"obs has shape {state.shape}, layout covers {start}"
    assert state.dtype == np.float32
    q = state[layout["eef_quat"]]
    assert abs(np.linalg.norm(q) - 1.0) < 1e-3, "eef_quat must be a unit quaternion (wxyz)"
    # Gripper pointing down at reset: the grip frame's z axis is world -z, i.e. the quaternion rotates z to -z.
    w, x, y, z = q
    z_axis = np.array([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)])
    assert z_axis[2] < -0.9, f"gripper should point down at reset, z axis {z_axis}"
    assert env.action_space.shape == (7,) and np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)


def check_determinism(env_fn, steps: int = 20) -> None:
    """Same seed and same actions give the same observations and rewards; another seed gives another start."""
    def rollout(seed):
        env = env_fn()
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(123)
        traj, rewards = [np.asarray(obs).copy()], []
        for _ in range(steps):
            obs, r, *_ = env.step(rng.uniform(-1, 1, size=env.action_space.shape).astype(np.float32))
            traj.append(np.asarray(obs).copy())
            rewards.append(r)
        env.close()
        return np.array(traj), np.array(rewards)

    a, ra = rollout(7)
    b, rb = rollout(7)
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(ra, rb, atol=1e-6)
    c, _ = rollout(8)
    assert not np.allclose(a[0], c[0]), "different seeds should randomise the initial state"
    # Re-seeding the same instance must give the same start, whatever ran before (no state leaks across resets).
    env = env_fn()
    first, _ = env.reset(seed=7)
    for _ in range(5):
        env.step(np.ones(env.action_space.shape, dtype=np.float32))
    again, _ = env.reset(seed=7)
    np.testing.assert_allclose(np.asarray(first), np.asarray(again), atol=1e-6)
    env.close()


def check_bad_actions(env: gym.Env) -> None:
    env.reset(seed=0)
    dim = env.action_space.shape[0]
    for bad in (np.zeros(dim + 1), np.zeros((1, dim)), np.zeros(dim - 1)):
        try:
            env.step(bad)
        except ValueError as e:
            assert "shape" in str(e)
        else:
            raise AssertionError(f"action of shape {bad.shape} was accepted")
    for value in (np.nan, np.inf):
        a = np.zeros(dim)
        a[2] = value
        try:
            env.step(a)
        except ValueError as e:
            assert "NaN" in str(e) or "inf" in str(e)
        else:
            raise AssertionError(f"action with {value} was accepted")


def check_info(env: gym.Env) -> None:
    _, info = env.reset(seed=0)
    _, _, _, _, info = env.step(np.zeros(env.action_space.shape, dtype=np.float32))
    assert isinstance(info["is_success"], bool)
    assert isinstance(info["object_poses"], dict) and info["object_poses"]
    for pose in info["object_poses"].values():
        assert np.asarray(pose).shape == (7,), "object poses are (x, y, z, qw, qx, qy, qz)"
    assert "contacts" in info
    assert np.asarray(info["eef_pos"]).shape == (3,)
