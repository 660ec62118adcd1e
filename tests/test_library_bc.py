"""BC primitives from scripted demos into the library (skill_rl.imitation.bc_primitive): the exported policy
loads from a fresh SkillLibrary and acts with its observation history like the core's HistoryPolicy; it is a
Skill whose success is the catalog's check; a small training run beats random actions on held-out seeds;
bad input is refused before anything is recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import skill_rl.envs as envs
from skill_rl.cli import app
from skill_rl.imitation.bc_primitive import (
    EVAL_SEED_BASE,
    BCPrimitiveError,
    evaluate_entry,
    export_acting_policy,
    parse_param,
    recipe_for,
    record_primitive_demos,
    train_bc_primitive,
)
from skill_rl.imitation.policy import BCConfig, BCPolicy, HistoryPolicy
from skill_rl.library import (
    BadParamsError,
    LibraryError,
    Skill,
    SkillLibrary,
    UnknownSkillError,
    add_bc_policy,
    make_scripted,
    primitive,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PLACE = {"obj": "cube", "target": "region"}


@pytest.fixture
def env():
    e = envs.make("TabletopPickPlace-v0")
    yield e
    e.close()


class Delta(nn.Module):
    """forward(obs[B, H, D]) -> tanh(newest - oldest frame)[:, :A]: an action that only history explains."""

    def __init__(self, act_dim: int) -> None:
        super().__init__()
        self.act_dim = act_dim

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(100.0 * (obs[:, -1] - obs[:, 0]))[:, : self.act_dim]


def test_bc_entries_keep_their_observation_history_and_reset_clears_it(env, tmp_path):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    path = tmp_path / "delta.pt"
    torch.jit.save(torch.jit.script(Delta(a)), str(path))
    add_bc_policy(SkillLibrary(tmp_path / "lib"), "delta", path, env, implements="pick_place", bound=PLACE,
                  horizon=10, history=3)
    skill = SkillLibrary(tmp_path / "lib").get("delta").load(env)  # a fresh library object: only files are shared
    assert isinstance(skill, Skill) and skill.history == 3
    o1, o2, o3, o4 = (np.full(d, v, np.float32) for v in (0.0, 0.01, 0.02, 0.03))
    skill.reset()
    assert np.all(skill.act(o1) == 0)  # the first frame fills the whole history
    assert np.allclose(skill.act(o2), np.tanh(1.0))  # newest - oldest = 0.01
    assert np.allclose(skill.act(o3), np.tanh(2.0))
    assert np.allclose(skill.act(o4), np.tanh(2.0))  # 3 frames: o2..o4
    skill.reset()
    assert np.all(skill.act(o4) == 0)  # nothing of the last episode is left
    with pytest.raises(LibraryError, match=r"params\['history'\].*integer >= 1, got 0"):
        add_bc_policy(SkillLibrary(tmp_path / "lib"), "bad", path, env, history=0)


def test_exported_policy_acts_like_the_core_history_policy(env, tmp_path):
    d, a = env.unwrapped.obs_dim, env.action_space.shape[0]
    torch.manual_seed(0)
    model = BCPolicy(BCConfig(obs_dim=d, act_dim=a, history=2))
    obs, _ = env.reset(seed=3)
    model.set_normaliser(np.asarray(obs) + 0.01, np.full(d, 0.1))  # arbitrary, not the identity
    export_acting_policy(model, tmp_path / "policy.pt")
    blob = torch.jit.load(str(tmp_path / "policy.pt"))
    assert not any("optim" in n for n, _ in blob.named_modules())
    entry = add_bc_policy(SkillLibrary(tmp_path / "lib"), "bc", tmp_path / "policy.pt", env, implements="pick_place",
                          bound=PLACE, horizon=20, history=2)
    skill, core = entry.load(env), HistoryPolicy(model)
    for episode in range(2):  # the second episode checks that reset() starts a new history in both
        obs, _ = env.reset(seed=episode)
        skill.reset()
        core.reset()
        for _ in range(6):
            ours, theirs = skill.act(obs), np.clip(core.act(obs), -1, 1)
            assert np.allclose(ours, theirs, atol=1e-5)
            obs, *_ = env.step(ours)


def test_success_is_the_declared_effect_check(env, tmp_path):
    demos, stats = record_primitive_demos(env, "pick_place", PLACE, 2, seed=0, action_noise=0.1)
    assert stats["demos"] == 2 and demos.n_episodes == 2 and demos.obs.shape[1] == env.unwrapped.obs_dim
    # recorded actions are the intended ones (in [-1, 1], the demonstrator's), the success check held in each
    assert np.abs(demos.actions).max() <= 1.0
    policy = tmp_path / "p.pt"
    export_acting_policy(_tiny_model(env), policy)
    skill = add_bc_policy(SkillLibrary(tmp_path / "lib"), "bc", policy, env, implements="pick_place", bound=PLACE,
                          horizon=300, history=2).load(env)
    obs, _ = env.reset(seed=EVAL_SEED_BASE)
    assert skill.success(obs) is False
    scripted = make_scripted(env, "pick_place", **PLACE)
    scripted.reset()
    for _ in range(scripted.horizon):
        obs, *_ = env.step(scripted.act(obs))
        if scripted.done(obs):
            break
    assert skill.success(obs) is primitive("pick_place").succeeded(env, obs, PLACE) is True


def _tiny_model(env) -> BCPolicy:
    torch.manual_seed(0)
    return BCPolicy(BCConfig(obs_dim=env.unwrapped.obs_dim, act_dim=env.action_space.shape[0], history=2,
                             hidden=16, layers=1))


def _random_successes(world: str, name: str, call: dict, seeds: list[int], horizon: int) -> list[bool]:
    env = envs.make(world)
    rng = np.random.default_rng(0)
    out = []
    for s in seeds:
        obs, _ = env.reset(seed=s)
        ok = False
        for _ in range(horizon):
            obs, *_ = env.step(rng.uniform(-1, 1, env.action_space.shape[0]).astype(np.float32))
            if primitive(name).succeeded(env, obs, call):
                ok = True
                break
        out.append(ok)
    env.close()
    return out


def test_a_small_training_run_lifts_the_cube_on_held_out_seeds(tmp_path):
    """30 demos, 2000 steps (seconds): lift(cube) in TabletopLift-v0 from a fresh library, against random actions."""
    res = train_bc_primitive("TabletopLift-v0", "lift", {"obj": "cube"}, demos=30, steps=2000, seed=0,
                             library=SkillLibrary(tmp_path / "lib"), name=None, out_dir=tmp_path / "runs",
                             eval_episodes=10, progress=False)
    assert res.entry is not None and res.entry.key == "bc_lift_cube@v1"
    for f in ("config.yaml", "metrics.csv", "summary.json", "policy.pt"):
        assert (res.run_dir / f).is_file(), f
    summary = json.loads((res.run_dir / "summary.json").read_text())
    assert summary["success_rate"] == res.success_rate and summary["wall_s"]["total"] > 0
    entry = SkillLibrary(tmp_path / "lib").get("bc_lift_cube")
    assert entry.kind == "bc" and entry.params["history"] == 2 and entry.implements == ("lift", {"obj": "cube"})
    assert entry.metrics["success_rate"] == res.success_rate and entry.metrics["demos"] == 30
    # the stored file, loaded anew, reproduces the measured episodes
    env = envs.make("TabletopLift-v0")
    seeds = [EVAL_SEED_BASE + r for r in range(10)]
    assert evaluate_entry(entry, env, seeds, moved=summary["eval_moved_starts"]) == res.eval_successes
    assert any(summary["eval_moved_starts"]) and not all(summary["eval_moved_starts"])  # both kinds of start
    env.close()
    random = _random_successes("TabletopLift-v0", "lift", {"obj": "cube"}, seeds, entry.params["horizon"])
    assert res.success_rate >= 0.5 and sum(res.eval_successes) > sum(random) + 3, (res.eval_successes, random)


@pytest.mark.slow
def test_lift_at_the_ci_budget_in_the_ros_world(tmp_path):
    """The budget recommended for a whole-path test (benchmarks/results/bc_primitives.md, lift/ci): lift(cube)
    in TabletopPickPlace-v0, the ROS simulation's world, 50 demos and 4000 steps."""
    res = train_bc_primitive("TabletopPickPlace-v0", "lift", {"obj": "cube"}, demos=50, steps=4000, seed=0,
                             library=SkillLibrary(tmp_path / "lib"), name=None, out_dir=tmp_path / "runs",
                             eval_episodes=20, progress=False)
    seeds = [EVAL_SEED_BASE + r for r in range(20)]
    random = _random_successes("TabletopPickPlace-v0", "lift", {"obj": "cube"}, seeds, res.entry.params["horizon"])
    assert res.success_rate >= 0.8 and sum(res.eval_successes) > sum(random) + 10, (res.eval_successes, random)


@pytest.mark.parametrize(("world", "name", "params", "error", "match"), [
    ("TabletopPickPlace-v0", "pick_and_place", {"obj": "cube"}, UnknownSkillError, r"'pick_and_place'.*known"),
    ("TabletopPickPlace-v0", "push", {"obj": "cube", "target_xy": [2, 2]}, BadParamsError,
     r"target_xy.x=2 m is out of range: valid \[-0.45, 0.45\]"),
    ("TabletopLift-v0", "pick_place", PLACE, BadParamsError, r"TabletopLift-v0.*target='region' is not an object"),
    ("TabletopPickPlace-v0", "pick_place", {"obj": "cube"}, BadParamsError, r"missing parameter target"),
    ("Nope-v0", "lift", {"obj": "cube"}, BCPrimitiveError, r"world 'Nope-v0'.*available"),
    ("TabletopPickPlace-v0", "lift", {"obj": "cube"}, BCPrimitiveError, r"demos, steps and eval_episodes"),
])
def test_bad_input_is_refused_before_anything_is_recorded(tmp_path, world, name, params, error, match):
    demos = 0 if error is BCPrimitiveError and "Nope" not in world else 2
    with pytest.raises(error, match=match):
        train_bc_primitive(world, name, params, demos=demos, steps=10, seed=0, library=SkillLibrary(tmp_path / "lib"),
                           name=None, out_dir=tmp_path / "runs", progress=False)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "lib").exists()


@pytest.mark.parametrize(("recipe", "match"), [({"head": "mdn"}, r"head one of .*gaussian.*'mdn'"),
                                             ({"history": 0}, "history and batch_size must be >= 1"),
                                             ({"action_noise": float("nan")}, r"action_noise must be in \[0, 1\]")])
def test_a_bad_recipe_is_refused_before_anything_is_recorded(tmp_path, recipe, match):
    with pytest.raises(BCPrimitiveError, match=match):
        train_bc_primitive("TabletopPickPlace-v0", "lift", {"obj": "cube"}, demos=2, steps=10, seed=0,
                           library=SkillLibrary(tmp_path / "lib"), out_dir=tmp_path / "runs", progress=False, **recipe)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "lib").exists()


def test_the_recipe_reaches_the_trained_policy(tmp_path):
    res = train_bc_primitive("TabletopPickPlace-v0", "lift", {"obj": "cube"}, demos=2, steps=4, seed=0, library=None,
                             out_dir=tmp_path, eval_episodes=1, progress=False, head="gmm", history=3, batch_size=8)
    trained = res.summary["train"]
    assert (trained["policy"]["head"], trained["policy"]["history"], trained["fit"]["batch_size"]) == ("gmm", 3, 8)


def test_push_takes_its_measured_recipe_unless_told_otherwise(tmp_path):
    """PRIMITIVE_RECIPES: push trains with a mixture head on 200 demos of DART noise 0.05 (94 % against 79 % with
    the core's recipe, bc_push_diagnosis.json); what the caller gives wins; other primitives keep the core's."""
    assert recipe_for("push") == {"head": "gmm", "action_noise": 0.05, "demos": 200}
    assert recipe_for("push", demos=50, head=None) == {"head": "gmm", "action_noise": 0.05, "demos": 50}
    assert recipe_for("pick_place") == {"head": "gaussian", "action_noise": 0.1, "demos": 100}
    call = {"obj": "cube", "target_xy": "region"}
    kw = {"demos": 2, "steps": 4, "seed": 0, "library": None, "eval_episodes": 1, "progress": False}
    res = train_bc_primitive("TabletopPush-v0", "push", call, out_dir=tmp_path / "a", **kw)
    assert (res.summary["train"]["policy"]["head"], res.summary["action_noise"]) == ("gmm", 0.05)
    res = train_bc_primitive("TabletopPush-v0", "push", call, out_dir=tmp_path / "b", head="gaussian", action_noise=0.1,
                             **kw)
    assert (res.summary["train"]["policy"]["head"], res.summary["action_noise"]) == ("gaussian", 0.1)
    res = train_bc_primitive("TabletopPickPlace-v0", "lift", {"obj": "cube"}, out_dir=tmp_path / "c", **kw)
    assert (res.summary["train"]["policy"]["head"], res.summary["action_noise"]) == ("gaussian", 0.1)


def test_parse_param_reads_yaml_values():
    assert parse_param("obj=cube") == ("obj", "cube")
    assert parse_param("target_xy=[0.1, -0.2]") == ("target_xy", [0.1, -0.2])
    with pytest.raises(BCPrimitiveError, match="key=value"):
        parse_param("obj")


def test_cli_train_bc_debug_stores_an_entry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["skills", "train-bc", "--world", "TabletopPickPlace-v0", "--primitive", "lift",
                                      "--param", "obj=cube", "--library", str(tmp_path / "lib"), "--debug",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "bc_lift_cube@v1" in result.output and "held-out episodes" in result.output
    assert SkillLibrary(tmp_path / "lib").get("bc_lift_cube").metrics["eval_episodes"] == 3
    bad = CliRunner().invoke(app, ["skills", "train-bc", "--primitive", "lift", "--param", "obj=region",
                                   "--library", str(tmp_path / "lib"), "--debug"])
    assert bad.exit_code == 2 and "obj='region' is a region" in bad.output
    bad_head = CliRunner().invoke(app, ["skills", "train-bc", "--primitive", "lift", "--param", "obj=cube", "--head",
                                        "mdn", "--library", str(tmp_path / "lib"), "--debug"])
    assert bad_head.exit_code == 2 and "'mdn'" in bad_head.output


def test_close_drawer_demos_and_evaluation_start_from_an_opened_drawer():
    """close_drawer's check holds at reset (the drawer starts closed), so its demos and evaluation episodes start
    after the scripted open_drawer (PRELUDES): every demo starts open and ends closed, none is a demo of nothing."""
    from skill_rl.imitation.bc_primitive import PRELUDES, run_prelude

    assert PRELUDES["close_drawer"][0] == "open_drawer"
    world = envs.make("TabletopDrawer-v0")
    try:
        call = {"drawer": "cabinet"}
        obs, _ = world.reset(seed=3)
        assert primitive("close_drawer").succeeded(world, obs, call)  # why the prelude exists
        obs = run_prelude(world, obs, "close_drawer", call)
        assert primitive("open_drawer").succeeded(world, obs, call) and not primitive("close_drawer").succeeded(
            world, obs, call)
        demos, stats = record_primitive_demos(world, "close_drawer", call, 2, seed=0, moved_starts=0.0)
        opening = world.unwrapped.obs_layout["cabinet_opening"]
        starts = demos.obs[np.r_[0, demos.episode_ends[:-1]]][:, opening].ravel()
        ends = demos.obs[demos.episode_ends - 1][:, opening].ravel()
        assert np.all(starts > 0.12) and np.all(ends < starts - 0.05) and stats["mean_length"] > 10
        assert run_prelude(world, obs, "open_drawer", call) is obs  # no prelude: nothing runs
    finally:
        world.close()
