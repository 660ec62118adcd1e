"""Predicates agree with each task's own success check, before and after the scripted expert solves it."""

from __future__ import annotations

import pytest

from skill_rl.envs import make
from skill_rl.envs.tabletop.experts import make_expert
from skill_rl.envs.tabletop.predicates import PREDICATES, evaluate, holds

CASES = [
    ("TabletopStack-v0", ("On", "cube_red", "cube_blue")),
    ("TabletopPickPlace-v0", ("In", "cube", "region")),
    ("TabletopDrawer-v0", ("Open", "cabinet")),
    ("TabletopLift-v0", ("Lifted", "cube")),
]


@pytest.mark.parametrize(("env_id", "atom"), CASES)
def test_predicate_false_at_start_true_after_expert(env_id, atom):
    env = make(env_id)
    for seed in range(2):
        obs, _ = env.reset(seed=seed)
        assert not holds(env.unwrapped, atom)
        expert = make_expert(env)
        expert.reset()
        for _ in range(300):
            obs, _, _, _, info = env.step(expert.act(obs))
            if info["is_success"]:
                break
        assert info["is_success"] and holds(env.unwrapped, atom), (env_id, seed)
    env.close()


def test_drawer_close_and_on_table_at_start():
    env = make("TabletopStack-v0")
    env.reset(seed=0)
    truth = evaluate(env.unwrapped, [("OnTable", "cube_red"), ("OnTable", "cube_blue"), ("Grasped", "cube_red")])
    assert truth == {"OnTable(cube_red)": True, "OnTable(cube_blue)": True, "Grasped(cube_red)": False}
    env = make("TabletopDrawer-v0")
    env.reset(seed=0)
    assert holds(env.unwrapped, ("Close", "cabinet")) and holds(env.unwrapped, ("Closed", "cabinet"))


@pytest.mark.parametrize(
    ("atom", "message"),
    [
        (("Onn", "cube_red", "cube_blue"), "unknown predicate 'Onn'"),
        (("On", "cube_red"), "On takes 2 argument"),
        (("On", "cube_red", "cube_green"), "unknown object 'cube_green'"),
        (("Open", "cube_red"), "'cube_red' is a cube, expected one of drawer"),
    ],
)
def test_malformed_atoms_are_refused_with_the_reason(atom, message):
    env = make("TabletopStack-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        holds(env.unwrapped, atom)


def test_every_predicate_is_documented():
    assert all(p.doc.startswith(p.name) for p in PREDICATES.values())
