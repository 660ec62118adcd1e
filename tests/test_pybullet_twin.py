"""pybullet twins of TabletopPush / TabletopPickPlace: the env contract, and sim-to-sim agreement with MuJoCo."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tests._extras import require

require("pybullet", extra="sim")

import skill_rl.envs as E  # noqa: E402
from skill_rl.envs.tabletop.experts import make_expert  # noqa: E402
from tests import conformance  # noqa: E402

TWINS = {"PybulletPush-v0": "TabletopPush-v0", "PybulletPickPlace-v0": "TabletopPickPlace-v0"}


def _z_axis(q_wxyz: np.ndarray) -> np.ndarray:
    w, x, y, z = q_wxyz
    return np.array([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)])


def _angle_between(qa: np.ndarray, qb: np.ndarray) -> float:
    """Rotation angle (rad) between two wxyz quaternions."""
    return float(2 * np.arccos(np.clip(abs(np.dot(qa / np.linalg.norm(qa), qb / np.linalg.norm(qb))), 0, 1)))


@pytest.mark.parametrize("env_id", list(TWINS))
def test_conformance(env_id):
    env = E.make(env_id)
    conformance.check_api(env)
    conformance.check_layout(env)
    conformance.check_info(env)
    conformance.check_bad_actions(env)
    conformance.check_determinism(lambda: E.make(env_id))
    env.close()


@pytest.mark.parametrize("env_id", list(TWINS))
def test_layout_and_initial_state_match_mujoco(env_id):
    pb, mj = E.make(env_id), E.make(TWINS[env_id])
    layout = pb.unwrapped.obs_layout
    assert layout == mj.unwrapped.obs_layout
    assert pb.observation_space.shape == mj.observation_space.shape
    assert pb.action_space.shape == mj.action_space.shape == (7,)
    assert pb.unwrapped.task_name == mj.unwrapped.task_name
    for seed in range(5):
        o_pb, info_pb = pb.reset(seed=seed)
        o_mj, _ = mj.reset(seed=seed)
        for key in ("cube_pos", "region_pos"):
            np.testing.assert_allclose(o_pb[layout[key]][:2], o_mj[layout[key]][:2], atol=1e-3, err_msg=key)
        assert abs(o_pb[layout["cube_pos"]][2] - 0.02) < 2e-3  # resting on the table top (z = 0)
        np.testing.assert_allclose(o_pb[layout["eef_pos"]], o_mj[layout["eef_pos"]], atol=0.02)
        # Same grip frame: within a few degrees of MuJoCo's at reset (z down, fingers along world y).
        assert _angle_between(o_pb[layout["eef_quat"]], o_mj[layout["eef_quat"]]) < np.deg2rad(3)
        assert _z_axis(o_pb[layout["eef_quat"]])[2] < -0.99
        # Cube orientation (the sampled yaw) agrees as well.
        assert _angle_between(o_pb[layout["cube_quat"]], o_mj[layout["cube_quat"]]) < np.deg2rad(1)
        np.testing.assert_allclose(o_pb[layout["gripper_qpos"]], [0.04, 0.04], atol=1e-3)
        assert info_pb["contacts"] == [("cube", "table")]
    pb.close()


def _expert_success(env, seeds) -> list[bool]:
    expert = make_expert(env)
    results = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        expert.reset()
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            done = terminated or truncated
        results.append(bool(info["is_success"]))  # success read at the episode's end
    return results


@pytest.mark.parametrize("env_id", list(TWINS))
def test_same_expert_succeeds_in_both_sims(env_id):
    """Sim-to-sim: the MuJoCo scripted expert, unchanged, solves the task in both simulators."""
    seeds = range(20)
    pb = _expert_success(E.make(env_id), seeds)
    mj = _expert_success(E.make(TWINS[env_id]), seeds)
    assert sum(mj) >= 18, f"MuJoCo {TWINS[env_id]}: {sum(mj)}/20"
    assert sum(pb) >= 16, f"pybullet {env_id}: expert succeeded on {sum(pb)}/20 seeds: {pb}"


@pytest.mark.parametrize("env_id", list(TWINS))
def test_action_semantics_match_mujoco(env_id):
    pb, mj = E.make(env_id), E.make(TWINS[env_id])
    eef = pb.unwrapped.obs_layout["eef_pos"]
    for axis in range(3):
        moves = []
        for env in (pb, mj):
            obs, _ = env.reset(seed=0)
            start = obs[eef].astype(np.float64)
            action = np.zeros(7, dtype=np.float32)
            action[axis] = 1.0
            for _ in range(4):
                obs, *_ = env.step(action)
            moves.append(obs[eef] - start)
        d_pb, d_mj = moves
        unit = np.eye(3)[axis]
        for d in (d_pb, d_mj):
            assert np.dot(d, unit) / np.linalg.norm(d) > 0.95, f"axis {axis}: moved {d}"
        ratio = np.dot(d_pb, unit) / np.dot(d_mj, unit)
        assert 0.7 < ratio < 1.3, f"axis {axis}: pybullet moved {d_pb}, MuJoCo {d_mj}"
    pb.close()


def test_import_does_not_import_pybullet():
    code = (
        "import sys, skill_rl.envs as E\n"
        "assert 'pybullet' not in sys.modules, 'import skill_rl.envs imported pybullet'\n"
        "E.make('PybulletPush-v0').close()\n"
        "assert 'pybullet' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_missing_pybullet_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pybullet", None)  # makes `import pybullet` raise ImportError
    with pytest.raises(ImportError, match=r"skill-rl\[sim\]"):
        E.make("PybulletPush-v0")


def test_envs_in_one_process_are_independent_and_reset_replays():
    def rollout(env, seed, rng_seed, other=None, steps=40):
        obs, _ = env.reset(seed=seed)
        rng, rng_other = np.random.default_rng(rng_seed), np.random.default_rng(99)
        traj = [obs]
        for _ in range(steps):
            obs, *_ = env.step(rng.uniform(-1, 1, 7).astype(np.float32))
            traj.append(obs)
            if other is not None:
                other.step(rng_other.uniform(-1, 1, 7).astype(np.float32))
        return np.array(traj)

    a, b = E.make("PybulletPickPlace-v0"), E.make("PybulletPickPlace-v0")
    reference = rollout(a, 3, 1)
    rollout(a, 5, 2)  # another episode in between must not leak into the next reset (contact caches)
    np.testing.assert_array_equal(rollout(a, 3, 1), reference)
    b.reset(seed=11)
    np.testing.assert_array_equal(rollout(a, 3, 1, other=b), reference)
    a.close()
    b.close()


def test_jacobian_matches_finite_differences():
    env = E.make("PybulletPush-v0")
    base = env.unwrapped
    env.reset(seed=0)
    c = base._client
    q, _ = base.arm_state()
    jac = base._jacobian(q)
    eef = base.eef_pos()
    numeric = np.zeros((3, 7))
    h = 1e-4
    for k in range(7):
        dq = q.copy()
        dq[k] += h
        for j in range(7):
            c.resetJointState(base.robot, j, float(dq[j]))
        numeric[:, k] = (base.eef_pos() - eef) / h
    np.testing.assert_allclose(jac[:3], numeric, atol=1e-3)
    env.close()


def test_grasp_contacts_and_rewards():
    env = E.make("PybulletPickPlace-v0", reward_type="sparse")
    expert = make_expert(env)
    obs, info = env.reset(seed=0)
    expert.reset()
    assert info["grasped"] is False
    seen_grasp, rewards = False, []
    for _ in range(80):
        obs, reward, _, _, info = env.step(expert.act(obs))
        rewards.append(reward)
        if info["grasped"]:
            seen_grasp = True
            assert ("cube", "gripper") in info["contacts"]
            assert obs[env.unwrapped.obs_layout["gripper_qpos"]].sum() > 0.03  # fingers stopped on the 4 cm cube
    assert seen_grasp
    assert set(rewards) <= {0.0, 1.0} and rewards[-1] == 1.0
    assert info["is_success"] is True
    assert set(info["object_poses"]) == {"cube", "region"}
    dense = E.make("PybulletPickPlace-v0")
    dense.reset(seed=0)
    _, r, *_ = dense.step(np.zeros(7, dtype=np.float32))
    assert 0.0 < r < 1.0


def test_options_controllers_and_render():
    with pytest.raises(TypeError, match="valid options"):
        E.make("PybulletPush-v0", not_an_option=1)
    env = E.make("PybulletPush-v0", controller="joint_pos", render_mode="rgb_array", render_size=(48, 64))
    base = env.unwrapped
    assert env.action_space.shape == (8,)
    assert base.config.physics_timestep == pytest.approx(1 / 240) and base.n_substeps == 12
    obs, _ = env.reset(seed=0)
    joints = base.obs_layout["joint_pos"]
    action = np.zeros(8, dtype=np.float32)
    action[0] = 1.0
    for _ in range(3):
        obs2, *_ = env.step(action)
    assert 0.15 < obs2[joints][0] - obs[joints][0] < 0.31  # 3 steps of at most 0.1 rad each (plus servo lag)
    frame = env.render()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8 and frame.std() > 1
    env.close()
    vel = E.make("PybulletPush-v0", controller="joint_vel", obs_mode="state+image", image_size=32)
    obs, _ = vel.reset(seed=0)
    assert obs["image"].shape == (32, 32, 3) and obs["state"].shape == vel.observation_space["state"].shape
    vel.close()
