"""Symbolic layer and beam search: declared operators, relaxed heuristic, ordering, budgets, learned effects."""

from __future__ import annotations

import math

import pytest

from skill_rl.envs import make_task_env
from skill_rl.envs.tabletop.taskscene import ObjectDecl, PlacementRegion, TaskSpec
from skill_rl.library import make_scripted
from skill_rl.planning.search import SearchConfig, h_add, plan_search
from skill_rl.planning.symbolic import (
    abstract_state,
    applicable,
    apply,
    declared_operators,
    learn_operator,
    normalise_goal,
)

KINDS = {"red": "cube", "green": "cube", "blue": "cube", "zone": "region", "cab": "drawer"}
START = frozenset({("OnTable", "red"), ("OnTable", "green"), ("OnTable", "blue"), ("Close", "cab")})


def _names(plan):
    return [str(s) for s in plan.steps]


def test_stack_three_orders_supports_first():
    goal = frozenset({("On", "green", "red"), ("On", "red", "blue")})
    plan = plan_search(START, goal, declared_operators(KINDS), SearchConfig(beam_width=1))
    assert plan.complete and _names(plan) == ["pick_place(obj=red, target=blue)", "pick_place(obj=green, target=red)"]
    assert goal <= plan.states[-1]
    assert math.isclose(plan.success_prob, 0.9**2)


def test_drawer_goal_opens_puts_in_and_closes():
    goal = normalise_goal([("InDrawer", "red", "cab"), ("Closed", "cab")], KINDS)
    plan = plan_search(START, goal, declared_operators(KINDS), SearchConfig(beam_width=1))
    assert _names(plan) == ["open_drawer(drawer=cab)", "pick_place(obj=red, target=cab)", "close_drawer(drawer=cab)"]


def test_preconditions_and_effects():
    ops = {str(o): o for o in declared_operators(KINDS)}
    put_in = ops["pick_place(obj=red, target=cab)"]
    assert not applicable(put_in, START)  # the drawer is shut
    opened = apply(ops["open_drawer(drawer=cab)"], START)
    assert ("Open", "cab") in opened and ("Close", "cab") not in opened
    inside = apply(put_in, opened)
    assert ("InDrawer", "red", "cab") in inside and ("OnTable", "red") not in inside
    stacked = apply(ops["pick_place(obj=red, target=blue)"], START)
    assert not applicable(ops["pick_place(obj=blue, target=zone)"], stacked)  # something stands on blue
    held = apply(ops["lift(obj=red)"], START)
    assert ("Lifted", "red") in held and not applicable(ops["pick_place(obj=green, target=blue)"], held)  # one hand
    zone = apply(ops["pick_place(obj=red, target=zone)"], START)
    assert {("In", "red", "zone"), ("OnTable", "red")} <= zone
    assert not applicable(ops["push(obj=green, target_xy=zone)"], zone)  # one object per region


def test_h_add_sees_through_deletes_and_penalises_bad_order():
    ops = declared_operators(KINDS)
    goal = frozenset({("InDrawer", "red", "cab"), ("Close", "cab")})
    assert h_add(START, goal, ops) == 2.0  # open + put in; Close already holds
    stack_goal = frozenset({("On", "green", "red"), ("On", "red", "blue")})
    wrong_first = START | {("On", "green", "red")}
    assert h_add(wrong_first, stack_goal, ops) == 1.0 + 2.0  # red must still move: green comes off and back


def test_goal_count_heuristic_with_beam_one_is_misled_by_a_drawer():
    goal = normalise_goal([("InDrawer", "red", "cab"), ("Close", "cab"), ("On", "green", "blue")], KINDS)
    good = plan_search(START, goal, declared_operators(KINDS), SearchConfig(beam_width=1))
    assert good.complete and len(good.steps) == 4
    greedy = plan_search(START, goal, declared_operators(KINDS), SearchConfig(beam_width=1, heuristic="goal_count"))
    assert not greedy.complete or len(greedy.steps) > 4 or greedy.success_prob < good.success_prob


def test_budget_exhaustion_returns_best_partial_plan():
    goal = frozenset({("On", "green", "red"), ("On", "red", "blue")})
    plan = plan_search(START, goal, declared_operators(KINDS), SearchConfig(max_expansions=5))
    assert not plan.complete and plan.expansions == 5
    assert plan.unsatisfied >= 1


def test_no_plan_when_the_skill_is_missing_and_exclusions_are_respected():
    goal = frozenset({("InDrawer", "red", "cab")})
    no_open = declared_operators(KINDS, primitives=["pick_place", "close_drawer"])
    plan = plan_search(START, goal, no_open)
    assert not plan.complete and not any(s.add & goal for s in plan.steps)
    ops = declared_operators(KINDS)
    first = plan_search(START, frozenset({("In", "red", "zone")}), ops)
    second = plan_search(START, frozenset({("In", "red", "zone")}), ops, exclude=first.steps)
    assert _names(first) == ["pick_place(obj=red, target=zone)"]
    assert _names(second) == ["push(obj=red, target_xy=zone)"]


@pytest.mark.parametrize("bad", [("On", "red", "red")])
def test_goal_already_true_or_unknown_atoms(bad):
    plan = plan_search(START, frozenset({("OnTable", "red")}), declared_operators(KINDS))
    assert plan.complete and plan.steps == []
    assert not plan_search(START, frozenset({bad}), declared_operators(KINDS)).complete


def test_learned_operator_effects_match_the_declared_ones():
    spec = TaskSpec("t", "x", (ObjectDecl.of_type("red", "cube_red"), ObjectDecl.of_type("blue", "cube_blue")),
                    (PlacementRegion("a", (-0.1, -0.2), (0.1, 0.2)),), (("On", "red", "a"), ("On", "blue", "a")),
                    (("On", "red", "blue"),))
    env = make_task_env(spec)
    op, stats = learn_operator(env, lambda e: make_scripted(e, "pick_place", obj="red", target="blue"),
                               {"obj": "red", "target": "blue"}, seeds=range(3), name="pick_place")
    assert stats.runs == 3 and op.source == "learned"
    assert op.add == {("On", "red", "blue")}
    assert ("OnTable", "red") in op.delete
    assert op.prior == 1.0 and ("OnTable", "blue") in op.pre
    env.reset(seed=0)
    assert applicable(op, abstract_state(env))
