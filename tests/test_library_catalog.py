"""The primitive catalog: one declaration per primitive, validated calls, everything else derived from it; the
Skill protocol over every kind of library entry; learned entries that implement a catalog primitive."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import skill_rl.envs as envs
from skill_rl.envs.tabletop.scene import TABLE_HALF_SIZE
from skill_rl.library import (
    CATALOG,
    BadParamsError,
    ParamSpec,
    PrimitiveSpec,
    Skill,
    SkillLibrary,
    UnknownSkillError,
    add_bc_policy,
    add_learned_skill,
    add_scripted_primitives,
    declare,
    make_scripted,
    primitive,
    scripted_record,
)
from skill_rl.library.catalog import FREE, Case, ground_operators
from skill_rl.planning.execute import SkillSet
from skill_rl.planning.search import plan_search
from skill_rl.planning.symbolic import abstract_state, declared_operators

KINDS = {"red": "cube", "blue": "cube", "zone": "region", "cab": "drawer"}


class BcPolicy(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int) -> None:
        super().__init__()
        self.net = nn.Linear(obs_dim, act_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))


class SlimPolicy(nn.Module):
    def __init__(self, obs_dim: int, z_dim: int, act_dim: int) -> None:
        super().__init__()
        self.net = nn.Linear(obs_dim + z_dim, act_dim)

    def forward(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(torch.cat([obs, z], dim=-1)))


class Proposal(nn.Module):
    def __init__(self, obs_dim: int, z_dim: int) -> None:
        super().__init__()
        self.net = nn.Linear(2 * obs_dim, z_dim)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, goal], dim=-1))


class LmpPolicy(nn.Module):
    def __init__(self, obs_dim: int, z_dim: int, act_dim: int) -> None:
        super().__init__()
        self.net = nn.Linear(2 * obs_dim + z_dim, act_dim)

    def forward(self, obs: torch.Tensor, goal: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(torch.cat([obs, goal, z], dim=-1)))


def script(module: nn.Module, path):
    torch.jit.save(torch.jit.script(module), str(path))
    return path


@pytest.fixture(scope="module")
def env():
    e = envs.make("TabletopPickPlace-v0")  # objects: cube, region
    yield e
    e.close()


# ------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(("name", "params", "message"), [
    ("push", {"obj": "red", "target_xy": [2.0, 2.0]}, r"target_xy\.x=2 m is out of range: valid \[-0\.45, 0\.45\] m "
                                                      r"\(the table top, world frame\)"),
    ("push", {"obj": "red", "target_xy": [-1.5, 0.0]}, r"target_xy\.x=-1\.5 m is out of range"),
    ("push", {"obj": "red", "target_xy": [1e30, 0.0]}, r"target_xy\.x=1e\+30 m is out of range"),
    ("push", {"obj": "red", "target_xy": [0.1, float("nan")]}, r"target_xy=\[0\.1, nan\] is not finite"),
    ("reach", {"xyz": [0.0, 0.0, math.inf]}, r"xyz=\[0\.0, 0\.0, inf\] is not finite"),
    ("reach", {"xyz": [0.0, 0.0, -0.05]}, r"xyz\.z=-0\.05 m is out of range: valid \[0, 0\.5\] m"),
    ("reach", {"xyz": [0.0, 0.0, 0.2], "speed": 5.0}, r"speed=5 m/s is out of range: valid \[0\.02, 1\] m/s"),
    ("reach", {"xyz": [0.1, 0.2]}, r"xyz must be 3 numbers"),
    ("reach", {"xyz": "zone"}, r"xyz='zone' is a name"),
    ("pick_place", {"obj": "red", "target": "red"}, r"obj and target name the same object 'red'"),
    ("pick_place", {"obj": "zone", "target": "blue"}, r"obj='zone' is a region; valid cube / cylinder names here: "
                                                      r"red, blue"),
    ("pick_place", {"obj": "green", "target": "blue"}, r"'green' is not an object of this scene"),
    ("pick_place", {"obj": "red"}, r"missing parameter target \(target: the name of a cube / cylinder / region / "
                                   r"drawer\)"),
    ("open_drawer", {"drawer": "cab", "force": 3}, r"unknown parameter\(s\) force; it takes open_drawer\(drawer\)"),
    ("home", {"speed": -1.0}, r"speed=-1 m/s is out of range"),
])
def test_validate_names_the_parameter_the_value_and_the_valid_range(name, params, message):
    with pytest.raises(BadParamsError, match=message):
        primitive(name).validate(params, KINDS)


def test_validate_normalises_fills_defaults_and_uses_the_table_size():
    assert primitive("push").validate({"obj": "red", "target_xy": np.array([0.1, -0.2])}, KINDS) == \
        {"obj": "red", "target_xy": [0.1, -0.2]}
    assert primitive("push").validate({"obj": "red", "target_xy": "zone"}, KINDS)["target_xy"] == "zone"
    assert primitive("home").validate({}, KINDS) == {"speed": 0.5}
    assert primitive("reach").validate({"xyz": (0, 0, 0.1)}) == {"xyz": [0.0, 0.0, 0.1], "speed": None}
    low, high = primitive("push").param("target_xy").limits()
    assert high == (TABLE_HALF_SIZE[0], TABLE_HALF_SIZE[1]) and low == (-TABLE_HALF_SIZE[0], -TABLE_HALF_SIZE[1])
    assert issubclass(BadParamsError, ValueError)  # callers catching ValueError keep working
    with pytest.raises(UnknownSkillError, match=r"unknown primitive 'pushh' \(did you mean 'push'\?\); known "
                                                r"primitives: pick_place, push"):
        primitive("pushh")


def test_declared_operators_come_from_the_catalog():
    ops = {str(o): o for o in declared_operators(KINDS)}
    place = ops["pick_place(obj=red, target=zone)"]
    assert place.add == {("In", "red", "zone"), ("OnTable", "red")} and place.prior == primitive("pick_place").prior
    assert ("On", "*", "red") in place.pre_not and ("In", "*", "zone") in place.pre_not
    assert ops["pick_place(obj=red, target=cab)"].pre == {("Open", "cab")}
    assert ops["push(obj=blue, target_xy=zone)"].pre == {("OnTable", "blue")}
    assert ops["open_drawer(drawer=cab)"].delete == {("Close", "cab")}
    assert "pick_place(obj=red, target=red)" not in ops and not any(o.primitive in ("reach", "home") for o in ops.values())
    # the order breaks the search's ties, so it is stable: per free object pick_place, push, lift; drawers last
    order = [str(o) for o in declared_operators(KINDS)]
    assert order[:4] == ["pick_place(obj=red, target=blue)", "pick_place(obj=red, target=zone)",
                         "pick_place(obj=red, target=cab)", "push(obj=red, target_xy=zone)"]
    assert order[-2:] == ["open_drawer(drawer=cab)", "close_drawer(drawer=cab)"]


@pytest.fixture
def nudge():
    """A test-only primitive declared at runtime (mechanics: the lift phase machine)."""
    spec = declare(PrimitiveSpec(
        "nudge_up", "lift obj a little (test-only)",
        (ParamSpec("obj", "object", "the object", objects=FREE),
         ParamSpec("height", "number", "how high", unit="m", low=(0.0,), high=(0.3,), required=False, default=0.1)),
        "skill_rl.envs.tabletop.primitives:Lift",
        cases=(Case(pre_not=("Lifted(*)", "On(*, obj)"), add=("Lifted(obj)",), delete=("OnTable(obj)",)),),
        prior=0.55,
    ))
    yield spec
    CATALOG.remove("nudge_up")


def test_one_declaration_reaches_records_operators_validation_and_the_planner(nudge, tmp_path):
    """Adding a primitive is one declare(): the library's records, the planner's operators, validation and the
    planner's skill set all see it without another edit."""
    record = scripted_record("nudge_up")
    assert record.params["args"] == ["obj", "height"] and record.description == nudge.doc
    ops = [o for o in declared_operators(KINDS) if o.primitive == "nudge_up"]
    assert [str(o) for o in ops] == ["nudge_up(obj=red, height=0.1)", "nudge_up(obj=blue, height=0.1)"]
    assert ops[0].add == {("Lifted", "red")} and ops[0].delete == {("OnTable", "red")} and ops[0].prior == 0.55
    with pytest.raises(BadParamsError, match=r"nudge_up: height=0\.5 m is out of range: valid \[0, 0\.3\] m"):
        nudge.validate({"obj": "red", "height": 0.5}, KINDS)
    lib = SkillLibrary(tmp_path / "lib")
    added = add_scripted_primitives(lib)
    assert "nudge_up" in {e.name for e in added}
    skills = SkillSet(lib)
    state = frozenset({("OnTable", "red"), ("OnTable", "blue")})
    plan = plan_search(state, frozenset({("Lifted", "blue")}), [o for o in skills.operators(KINDS)
                                                                 if o.primitive in ("nudge_up", "pick_place")])
    assert [str(s) for s in plan.steps] == ["nudge_up(obj=blue, height=0.1)"]


def test_scripted_skills_satisfy_the_skill_protocol_and_judge_their_success(env):
    obs, _ = env.reset(seed=0)
    skill = make_scripted(env, "pick_place", obj="cube", target="region")
    assert isinstance(skill, Skill) and skill.params == {"obj": "cube", "target": "region"}
    assert [p.name for p in skill.param_specs] == ["obj", "target"]
    assert skill.success(obs) is False
    skill.reset()
    for _ in range(skill.horizon):
        obs, *_ = env.step(skill.act(obs))
        if skill.done(obs):
            break
    assert skill.success(obs) is True
    reach = make_scripted(env, "reach", xyz=[0.0, 0.1, 0.25])
    assert reach.success(obs) is False  # a point call: the catalog's distance check, not an atom


def test_every_learned_kind_satisfies_the_skill_protocol(env, tmp_path):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    lib = SkillLibrary(tmp_path / "lib")
    add_learned_skill(lib, "slim0", "slim", env, {"policy.pt": script(SlimPolicy(d, 2, a), tmp_path / "s.pt")},
                      params={"z": [0.0, 1.0]}, horizon=5)
    add_learned_skill(lib, "lmp", "play_lmp", env, {"policy.pt": script(LmpPolicy(d, 3, a), tmp_path / "l.pt"),
                                                     "proposal.pt": script(Proposal(d, 3), tmp_path / "q.pt")})
    add_bc_policy(lib, "bc_place", script(BcPolicy(d, a), tmp_path / "b.pt"), env, implements="pick_place",
                  bound={"obj": "cube", "target": "region"}, horizon=30)
    obs, _ = env.reset(seed=1)
    loaded = {"slim0": lib.get("slim0").load(env), "lmp": lib.get("lmp").load(env, goal=obs),
              "bc_place": lib.get("bc_place").load(env)}
    for name, skill in loaded.items():
        assert isinstance(skill, Skill), name
        skill.reset()
        assert skill.act(obs).shape == (a,) and not skill.done(obs)
    assert loaded["slim0"].success(obs) is None and loaded["lmp"].success(obs) is None
    assert [p.name for p in lib.get("lmp").param_specs()] == ["goal"] and lib.get("lmp").param_specs()[0].required
    # A BC entry that implements pick_place is judged by the declaration's effect check, and stops once it holds.
    bc = loaded["bc_place"]
    assert bc.params == {"obj": "cube", "target": "region"} and lib.get("bc_place").param_specs() == ()
    assert bc.success(obs) is False
    placed = make_scripted(env, "pick_place", obj="cube", target="region")
    placed.reset()
    for _ in range(placed.horizon):
        obs, *_ = env.step(placed.act(obs))
        if placed.done(obs):
            break
    bc.act(obs)
    assert bc.success(obs) is True and bc.done(obs)


def test_learned_entries_that_implement_a_primitive_are_validated_and_planned_with(env, tmp_path):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    lib = SkillLibrary(tmp_path / "lib")
    policy = script(BcPolicy(d, a), tmp_path / "b.pt")
    with pytest.raises(BadParamsError, match="missing parameter target.*bind them all"):
        add_bc_policy(lib, "half", policy, env, implements="pick_place", bound={"obj": "cube"})
    with pytest.raises(UnknownSkillError, match="known primitives"):
        add_bc_policy(lib, "bad", policy, env, implements="pick_and_place", bound={"obj": "cube"})
    entry = add_bc_policy(lib, "bc_place", policy, env, implements="pick_place",
                          bound={"obj": "cube", "target": "region"}, metrics={"success_rate": 0.7})
    assert entry.implements == ("pick_place", {"obj": "cube", "target": "region"})
    assert entry.validate_params({"obj": "cube"}, {"cube": "cube", "region": "region"}) == \
        {"obj": "cube", "target": "region"}
    with pytest.raises(BadParamsError, match=r"with obj='cube' bound; it cannot run with obj='cube2'"):
        entry.validate_params({"obj": "cube2"}, {"cube": "cube", "cube2": "cube", "region": "region"})
    with pytest.raises(BadParamsError, match=r"obj='cube2' is not an object of this scene"):
        entry.load(env, obj="cube2")
    # The planner uses it as one more skill for that call: same model, its own prior, run by the entry.
    skills = SkillSet(lib)
    kinds = {o.name: o.kind for o in env.unwrapped.task.objects}
    ops = skills.operators(kinds)
    declared = next(o for o in declared_operators(kinds) if str(o) == "pick_place(obj=cube, target=region)")
    assert [(o.skill, o.prior) for o in ops] == [("bc_place", 0.7)]
    assert (ops[0].pre, ops[0].pre_not, ops[0].add) == (declared.pre, declared.pre_not, declared.add)
    env.reset(seed=0)
    plan = plan_search(abstract_state(env), frozenset({("In", "cube", "region")}), ops)
    assert [o.skill for o in plan.steps] == ["bc_place"] and skills.entry(plan.steps[0]).key == "bc_place@v1"
    assert skills.learn_effects(env, seeds=range(1)) == []  # declared: nothing to learn


def test_ground_operators_only_bind_objects_of_the_declared_kinds():
    kinds = {"c": "cylinder", "r1": "region", "r2": "region"}
    calls = [(g.primitive, dict(g.params)) for g in ground_operators(kinds)]
    assert ("pick_place", {"obj": "c", "target": "r2"}) in calls and ("push", {"obj": "c", "target_xy": "r1"}) in calls
    assert all(p.get("obj") == "c" for _, p in calls)
