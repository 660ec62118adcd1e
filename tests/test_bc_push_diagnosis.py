"""The push diagnosis's demonstrator variants (benchmarks/diagnostics/bc_push.py): the phase-free push acts on the
observation alone and still pushes the cube in, and the swap is undone after its block."""

import importlib.util
from pathlib import Path

import numpy as np

from skill_rl.envs.tabletop.primitives import Push
from skill_rl.imitation.bc_primitive import make_scripted, make_world
from skill_rl.library import primitive

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "diagnostics" / "bc_push.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bc_push_diagnosis", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_phase_free_push_acts_on_the_observation_alone_and_succeeds():
    bench = _bench()
    env, spec = make_world(bench.WORLD), primitive(bench.PRIMITIVE)
    original = Push.__dict__.get("_act")
    with bench.demonstrator({"expert": "phase_free", "push_speed": 0.3}):
        assert Push.push_speed == 0.3
        skill = make_scripted(env, bench.PRIMITIVE, **bench.CALL)
        successes = 0
        for seed in range(3):
            obs, _ = env.reset(seed=seed)
            skill.reset()
            for _ in range(skill.horizon):
                action = skill.act(obs)
                fresh = make_scripted(env, bench.PRIMITIVE, **bench.CALL)  # no past: the same action
                np.testing.assert_array_equal(fresh.act(obs), action)
                obs, *_ = env.step(action)
                if spec.succeeded(env, obs, bench.CALL):
                    successes += 1
                    break
        assert successes == 3
    assert Push.__dict__.get("_act") is original and Push.push_speed == 0.5
    env.close()
