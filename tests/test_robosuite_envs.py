"""The robosuite envs (``skill_rl/Robosuite-*-v0``) meet the skill_rl env contract and its action semantics.

Skipped where robosuite (the ``sim`` extra) is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests._extras import missing, require

require("robosuite", extra="sim")

import skill_rl.envs as envs  # noqa: E402
from tests.conformance import (  # noqa: E402
    check_api,
    check_bad_actions,
    check_determinism,
    check_info,
    check_layout,
)

TASK_IDS = ["Robosuite-Lift-v0", "Robosuite-Stack-v0", "Robosuite-PickPlaceCan-v0", "Robosuite-Door-v0"]


@pytest.fixture(scope="module", params=TASK_IDS)
def env(request):
    e = envs.make(request.param)
    yield e
    e.close()


def test_api(env):
    check_api(env)


def test_layout(env):
    check_layout(env)


def test_bad_actions(env):
    check_bad_actions(env)


def test_info(env):
    check_info(env)
    _, info = env.reset(seed=0)
    assert isinstance(info["contacts"], list)
    assert np.asarray(info["eef_pos"]).shape == (3,)


@pytest.mark.parametrize("env_id", TASK_IDS)
def test_determinism(env_id):
    check_determinism(lambda: envs.make(env_id), steps=10)


def test_task_fields_and_truncation():
    expected = {
        "Robosuite-Lift-v0": ["cube_pos", "cube_quat", "cube_to_eef"],
        "Robosuite-Stack-v0": ["cube_red_pos", "cube_red_quat", "cube_red_to_eef",
                               "cube_blue_pos", "cube_blue_quat", "cube_blue_to_eef"],
        "Robosuite-PickPlaceCan-v0": ["can_pos", "can_quat", "can_to_eef", "bin_pos"],
        "Robosuite-Door-v0": ["door_handle_pos", "door_hinge"],
    }
    for env_id, fields in expected.items():
        e = envs.make(env_id, max_episode_steps=3)
        assert list(e.unwrapped.obs_layout)[5:] == fields
        assert e.unwrapped.task_name == env_id.split("-")[1]
        obs, _ = e.reset(seed=1)
        lay = e.unwrapped.obs_layout
        assert np.all(obs[lay["gripper_qpos"]] >= 0)
        for name in fields:
            if name.endswith("_to_eef"):
                obj = name[: -len("_to_eef")]
                np.testing.assert_allclose(obs[lay[name]], obs[lay["eef_pos"]] - obs[lay[f"{obj}_pos"]], atol=1e-5)
            if name.endswith("_quat"):
                assert abs(np.linalg.norm(obs[lay[name]]) - 1) < 1e-4
        truncs = [e.step(np.zeros(7, dtype=np.float32))[3] for _ in range(3)]
        assert truncs == [False, False, True]
        e.close()


def test_reset_in_same_env_is_deterministic_and_leaves_global_rng_alone():
    e = envs.make("Robosuite-Stack-v0")
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(8, 7)).astype(np.float32)

    def rollout():
        obs, _ = e.reset(seed=3)
        out = [obs]
        for a in actions:
            out.append(e.step(a)[0])
        return np.array(out)

    np.random.seed(1234)
    before = np.random.get_state()[1].copy()
    a = rollout()
    assert np.array_equal(np.random.get_state()[1], before), "reset must not consume numpy's global RNG"
    b = rollout()  # same env, after the gripper and controller have been driven: still identical
    np.testing.assert_array_equal(a, b)
    e.close()


def test_sparse_reward():
    e = envs.make("Robosuite-Lift-v0", reward_type="sparse")
    e.reset(seed=0)
    _, r, _, _, info = e.step(np.zeros(7, dtype=np.float32))
    assert r == float(info["is_success"]) == 0.0
    e.close()


def _p_action(target, eef, gripper):
    a = np.zeros(7, dtype=np.float32)
    a[:3] = np.clip((target - eef) * 20.0, -1.0, 1.0)
    a[6] = gripper
    return a


def test_scripted_lift():
    """Move above the cube, descend, close, lift: the cube rises > 3 cm, so the x/y/z and gripper signs are ours."""
    e = envs.make("Robosuite-Lift-v0")
    lay = e.unwrapped.obs_layout
    obs, _ = e.reset(seed=0)
    cube0 = obs[lay["cube_pos"]].copy()

    def go(offset, gripper, steps):
        nonlocal obs
        for _ in range(steps):
            target = obs[lay["cube_pos"]] + offset
            obs, *_ = e.step(_p_action(target, obs[lay["eef_pos"]], gripper))

    go(np.array([0.0, 0.0, 0.10]), -1.0, 30)  # above the cube, open
    assert np.linalg.norm(obs[lay["eef_pos"]][:2] - obs[lay["cube_pos"]][:2]) < 0.01
    go(np.array([0.0, 0.0, 0.0]), -1.0, 25)  # descend around it
    for _ in range(10):  # close
        obs, *_ = e.step(np.r_[np.zeros(6), 1.0].astype(np.float32))
    assert np.all(obs[lay["gripper_qpos"]] > 0.01), "fingers should be stopped by the cube"
    for _ in range(20):  # lift
        obs, _, _, _, info = e.step(np.array([0, 0, 1, 0, 0, 0, 1], dtype=np.float32))
    lifted = obs[lay["cube_pos"]][2] - cube0[2]
    assert lifted > 0.03, f"cube rose only {lifted:.3f} m"
    assert info["is_success"]
    assert ("cube", "gripper") in info["contacts"]
    e.close()


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "osmesa")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=120)


def test_import_does_not_import_robosuite():
    res = _run(
        """
        import sys
        import skill_rl.envs
        assert "Robosuite-Lift-v0" in " ".join(skill_rl.envs.list_env_ids())
        assert "robosuite" not in sys.modules, "importing skill_rl.envs imported robosuite"
        """
    )
    assert res.returncode == 0, res.stderr


def test_render_rgb_array():
    """Offscreen frame from the frontview camera (subprocess: the GL backend is chosen at import time)."""
    res = _run(
        """
        import numpy as np, skill_rl.envs as envs
        e = envs.make("Robosuite-Lift-v0", render_mode="rgb_array")
        e.reset(seed=0)
        f = e.render()
        assert f.shape == (240, 320, 3) and f.dtype == np.uint8 and f.std() > 5, (f.shape, f.dtype, f.std())
        print("RENDER_OK")
        """
    )
    if "RENDER_OK" not in res.stdout and ("GL" in res.stderr or "osmesa" in res.stderr.lower()):
        missing(f"no offscreen OpenGL here: {res.stderr.strip().splitlines()[-1]}", extra="render")
    assert "RENDER_OK" in res.stdout, res.stderr
    # With render_mode=None no renderer is created.
    e = envs.make("Robosuite-Door-v0")
    assert e.unwrapped.robosuite_env.has_offscreen_renderer is False
    e.reset(seed=0)
    assert e.render() is None
    e.close()
