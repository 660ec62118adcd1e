"""MuJoCo tabletop worlds: API contract, controllers, observations, experts."""

from __future__ import annotations

import os

import numpy as np
import pytest

import skill_rl.envs as E
from skill_rl.envs.tabletop import TASKS, TabletopConfig
from skill_rl.envs.tabletop.experts import make_expert
from tests import conformance
from tests._extras import missing

TABLETOP_IDS = [f"{name}-v0" for name in TASKS]


@pytest.mark.parametrize("env_id", TABLETOP_IDS)
def test_conformance(env_id):
    env = E.make(env_id)
    conformance.check_api(env)
    conformance.check_layout(env)
    conformance.check_info(env)
    conformance.check_bad_actions(env)
    conformance.check_determinism(lambda: E.make(env_id))


@pytest.mark.parametrize("env_id", TABLETOP_IDS)
def test_expert_succeeds_on_100_seeds(env_id):
    """The scripted expert reaches >= 90% success over seeds 0..99 (success read at the episode's end)."""
    env = E.make(env_id)
    expert = make_expert(env)
    successes = 0
    for seed in range(100):
        obs, _ = env.reset(seed=seed)
        expert.reset()
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            done = terminated or truncated
        successes += info["is_success"]
    assert successes >= 90, f"{env_id}: expert succeeded on {successes}/100 seeds"


@pytest.mark.parametrize("env_id", TABLETOP_IDS)
def test_idle_arm_does_not_solve_task(env_id):
    """A zero action for a whole episode must not count as success (the predicates are not trivially true)."""
    env = E.make(env_id, max_episode_steps=40)
    env.reset(seed=0)
    for _ in range(40):
        _, reward, _, _, info = env.step(np.zeros(7, dtype=np.float32))
    assert not info["is_success"]
    assert reward < 1.0


def test_sparse_and_dense_rewards():
    env = E.make("TabletopLift-v0", reward_type="sparse")
    obs, _ = env.reset(seed=0)
    expert = make_expert(env)
    rewards, successes = [], []
    for _ in range(80):
        obs, r, _, _, info = env.step(expert.act(obs))
        rewards.append(r)
        successes.append(info["is_success"])
    assert set(rewards) <= {0.0, 1.0}
    assert rewards == [float(s) for s in successes] and any(successes)
    dense = E.make("TabletopLift-v0")
    dense.reset(seed=0)
    _, r0, *_ = dense.step(np.zeros(7, dtype=np.float32))
    assert 0.0 <= r0 < 1.0


def test_ee_delta_moves_gripper_in_commanded_direction():
    env = E.make("TabletopReach-v0")
    env.reset(seed=0)
    base = env.unwrapped
    for axis in range(3):
        for sign in (1.0, -1.0):
            start = base.eef_pos()
            a = np.zeros(7, dtype=np.float32)
            a[axis] = sign
            for _ in range(3):
                env.step(a)
            moved = base.eef_pos() - start
            assert sign * moved[axis] > 0.05, f"axis {axis} sign {sign}: moved {moved}"
            off_axis = np.delete(moved, axis)
            assert np.all(np.abs(off_axis) < 0.02)


def test_gripper_open_close():
    env = E.make("TabletopReach-v0")
    obs, _ = env.reset(seed=0)
    layout = env.unwrapped.obs_layout
    assert obs[layout["gripper_qpos"]].sum() > 0.07
    for _ in range(5):
        obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, 1.0], dtype=np.float32))
    assert obs[layout["gripper_qpos"]].sum() < 0.005


@pytest.mark.parametrize("controller", ["joint_pos", "joint_vel"])
def test_joint_controllers(controller):
    env = E.make("TabletopReach-v0", controller=controller)
    obs, _ = env.reset(seed=0)
    assert env.action_space.shape == (8,)
    q0 = obs[env.unwrapped.obs_layout["joint_pos"]].copy()
    a = np.zeros(8, dtype=np.float32)
    a[0] = 1.0  # rotate the base joint
    for _ in range(4):
        obs, *_ = env.step(a)
    dq = obs[env.unwrapped.obs_layout["joint_pos"]] - q0
    assert dq[0] > 0.15 and np.all(np.abs(dq[1:]) < 0.1), dq
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(7))


def test_physics_timestep_is_a_config_value():
    env = E.make("TabletopLift-v0", physics_timestep=0.001)
    assert env.unwrapped.model.opt.timestep == 0.001
    assert env.unwrapped.n_substeps == 50
    with pytest.raises(ValueError, match="substeps"):
        E.make("TabletopLift-v0", physics_timestep=0.003)



@pytest.mark.parametrize("steps", [7, 230])
def test_max_episode_steps_shortens_and_lengthens_episodes(steps):
    """Past the env's default 200 too: a gymnasium TimeLimit alone could only shorten."""
    env = E.make("TabletopLift-v0", max_episode_steps=steps)
    env.reset(seed=0)
    terminated = truncated = False
    t = 0
    while not (terminated or truncated) and t < 300:
        _, _, terminated, truncated, _ = env.step(np.zeros(env.action_space.shape, np.float32))
        t += 1
    assert (t, truncated) == (steps, True)
    env.close()

def test_bad_options_are_clear_errors():
    with pytest.raises(TypeError, match="unknown tabletop env option 'colour'"):
        E.make("TabletopLift-v0", colour="red")
    with pytest.raises(ValueError, match="controller must be one of"):
        E.make("TabletopLift-v0", controller="torque")
    with pytest.raises(KeyError, match="available: .*TabletopLift-v0"):
        E.make("TabletopFly-v0")


def test_info_reports_grasp_contacts_and_poses():
    env = E.make("TabletopLift-v0")
    obs, info = env.reset(seed=1)
    assert ("cube", "table") in info["contacts"]
    expert = make_expert(env)
    for _ in range(60):
        obs, _, _, _, info = env.step(expert.act(obs))
    assert info["grasped"] and ("cube", "gripper") in info["contacts"]
    np.testing.assert_allclose(info["object_poses"]["cube"][:3], obs[env.unwrapped.obs_layout["cube_pos"]], atol=1e-5)


@pytest.fixture
def gl():
    if not os.environ.get("MUJOCO_GL") and not os.environ.get("DISPLAY"):
        missing("no OpenGL backend (neither MUJOCO_GL nor DISPLAY is set)", extra="render")


needs_gl = pytest.mark.usefixtures("gl")


@needs_gl
def test_render_and_image_observation():
    env = E.make("TabletopPush-v0", render_mode="rgb_array", obs_mode="state+image", image_size=48)
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == (48, 48, 3) and obs["image"].dtype == np.uint8
    assert obs["image"].std() > 5, "image looks blank"
    frame = env.render()
    h, w = TabletopConfig().render_size
    assert frame.shape == (h, w, 3) and frame.dtype == np.uint8
    assert env.observation_space.contains(obs)
