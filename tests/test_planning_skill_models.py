"""Skill models: rollouts of library skills in a task scene, a dynamics model that beats "nothing moves" on
held-out starts, a success classifier that beats the majority class, and save -> load -> same prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skill_rl.envs import make_task_env
from skill_rl.errors import UserError
from skill_rl.library import SkillLibrary, add_scripted_primitives
from skill_rl.planning.skill_models import (
    SkillModelConfig,
    SkillModels,
    collect_rollouts,
    feature_spec,
    fit_skill_models,
)
from skill_rl.planning.tasklang import parse_task

SCENE = """
(define (problem two_cubes)
  (:language "two cubes and a region")
  (:regions (left_area (:ranges ((-0.12 -0.2 0.12 -0.02)))) (right_area (:ranges ((-0.12 0.04 0.12 0.2)))))
  (:objects cube_red - cube_red cube_yellow - cube_yellow goal_region - region)
  (:init (On cube_red left_area) (On cube_yellow left_area) (On goal_region right_area))
  (:goal (And (On cube_yellow cube_red))))
"""
CFG = SkillModelConfig(epochs=300)


@pytest.fixture(scope="module")
def spec():
    return parse_task(SCENE)


@pytest.fixture
def lib(tmp_path):
    library = SkillLibrary(tmp_path / "lib")
    add_scripted_primitives(library)
    return library


def reach_targets(env, rng):
    return {"xyz": rng.uniform([-0.2, -0.3, 0.05], [0.2, 0.3, 0.35]).tolist()}


def test_pick_place_dynamics_beats_nothing_moves(lib, spec):
    report = fit_skill_models(lib, "pick_place", lambda: make_task_env(spec), 20,
                              params={"obj": "cube_yellow", "target": "cube_red"}, wander_steps=20, config=CFG)
    dyn = report.dynamics
    assert dyn["n_test"] == 5 and dyn["n_train"] == 15
    # The yellow cube travels ~0.1-0.3 m onto the red one: predicting its end position must be far better
    # than assuming it stays where it is.
    moved = dyn["per_field"]["{obj}_pos"]
    assert moved["nothing_moves"] > 0.05
    assert moved["model"] < 0.5 * moved["nothing_moves"]
    assert dyn["heldout_error_m"] < dyn["nothing_moves_error_m"]
    # It learned where the cube goes: relative to the target (the red cube), not to where it started.
    assert dyn["base_columns"][3:6] == ["{target}_pos[0]", "{target}_pos[1]", "{target}_pos[2]"]
    # Stored as a new version with both models and their metrics.
    entry = report.entry
    assert entry.version == 2 and {"dynamics.pt", "classifier.pt"} <= set(entry.files)
    assert entry.metrics["dynamics"]["heldout_error_m"] == pytest.approx(dyn["heldout_error_m"])
    assert entry.params["models"]["inputs"] == ["eef_pos", "gripper_qpos", "{obj}_pos", "{target}_pos"]
    assert lib.get("pick_place", 1).load_dynamics() is None


def test_reach_classifier_beats_majority(lib, spec):
    # With an 8-step budget, reaching succeeds only when the target is close enough to the start pose.
    report = fit_skill_models(lib, "reach", lambda: make_task_env(spec), 120, params=reach_targets, budget=8,
                              wander_steps=20, config=CFG)
    clf = report.classifier
    assert 0.2 < clf["success_rate"] < 0.8, clf
    assert clf["heldout_accuracy"] > clf["majority_accuracy"], clf
    eef = report.dynamics["per_field"]["eef_pos"]
    assert eef["model"] < 0.5 * eef["nothing_moves"]


BLOCKED = """
(define (problem three_cubes)
  (:language "three cubes")
  (:regions (left_area (:ranges ((-0.12 -0.2 0.12 -0.02)))) (right_area (:ranges ((-0.12 0.04 0.12 0.2)))))
  (:objects cube_red - cube_red cube_yellow - cube_yellow cube_green - cube_green)
  (:init (On cube_red left_area) (On cube_yellow right_area) (On cube_green right_area))
  (:goal (And (On cube_yellow cube_red))))
"""


def green_on_red(env, obs):
    from skill_rl.library import make_scripted

    prim = make_scripted(env, "pick_place", obj="cube_green", target="cube_red")
    prim.reset()
    for _ in range(prim.horizon):
        if prim.done(obs):
            break
        obs, *_ = env.step(prim.act(obs))
    return obs


def test_classifier_learns_a_real_precondition(lib):
    """Half the starts come from another skill stacking green on red; then yellow cannot go on red. The
    classifier must tell these starts apart (it sees the nearest other object to each role object)."""
    spec = parse_task(BLOCKED)

    def start(env, rng, obs):
        return green_on_red(env, obs) if rng.random() < 0.5 else obs

    report = fit_skill_models(lib, "pick_place", lambda: make_task_env(spec), 40,
                              params={"obj": "cube_yellow", "target": "cube_red"}, start_fn=start, wander_steps=10,
                              config=CFG)
    clf = report.classifier
    assert 0.3 < clf["success_rate"] < 0.7, clf
    assert clf["heldout_accuracy"] >= 0.8 and clf["heldout_accuracy"] > clf["majority_accuracy"], clf
    # On fresh starts: clear target -> likely success, green already on red -> likely failure.
    models = SkillModels(report.entry)
    env = make_task_env(spec)
    layout = env.unwrapped.obs_layout
    clear = np.stack([env.reset(seed=500 + i)[0] for i in range(3)])
    blocked = np.stack([green_on_red(env, env.reset(seed=500 + i)[0]) for i in range(3)])
    p_clear = models.success_prob(clear, layout, obj="cube_yellow", target="cube_red")
    p_blocked = models.success_prob(blocked, layout, obj="cube_yellow", target="cube_red")
    assert (p_clear > 0.5).all() and (p_blocked < 0.5).all(), (p_clear, p_blocked)
    env.close()


def test_save_load_same_prediction(lib, spec, tmp_path):
    report = fit_skill_models(lib, "pick_place", lambda: make_task_env(spec), 12,
                              params={"obj": "cube_yellow", "target": "cube_red"}, config=SkillModelConfig(epochs=30),
                              save_as="yellow_on_red")
    assert report.entry.name == "yellow_on_red" and report.entry.params["bound"] == {"obj": "cube_yellow",
                                                                                     "target": "cube_red"}
    env = make_task_env(spec)
    layout = env.unwrapped.obs_layout
    obs = np.stack([env.reset(seed=100 + i)[0] for i in range(4)])
    # Fresh objects on the library folder, as the planner in another process would see them.
    models = SkillModels(SkillLibrary(lib.root).get("yellow_on_red"))
    x = torch.as_tensor(report.features.gather(obs, layout, {"obj": "cube_yellow", "target": "cube_red"}))
    with torch.no_grad():
        expected_y = report.dynamics_model(x).numpy()
        expected_p = report.classifier_model(x).numpy()
    pred = models.predict(obs, layout)  # the binding is stored with the skill
    np.testing.assert_allclose(pred[:, layout["cube_yellow_pos"]], expected_y[:, 3:6], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred[:, layout["eef_pos"]], expected_y[:, :3], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pred[:, layout["cube_red_pos"]], expected_y[:, 6:9])
    np.testing.assert_allclose(models.success_prob(obs, layout), expected_p, rtol=1e-5, atol=1e-6)
    assert isinstance(models.success_prob(obs[0], layout), float)
    # Untouched fields are copied; one observation in, one out.
    np.testing.assert_array_equal(pred[:, layout["joint_pos"]], obs[:, layout["joint_pos"]])
    assert models.predict(obs[0], layout).shape == obs[0].shape
    # Role templates: the same models apply to another binding of the roles.
    other = models.predict(obs, layout, obj="cube_red", target="cube_yellow")
    assert not np.allclose(other[:, layout["cube_red_pos"]], obs[:, layout["cube_red_pos"]])
    # Export -> import keeps the models.
    imported = SkillLibrary(tmp_path / "other").import_(lib.export("yellow_on_red", tmp_path / "m.tar.gz"))
    np.testing.assert_array_equal(SkillModels(imported).predict(obs, layout), pred)
    env.close()


def test_rollouts_and_errors(lib, spec):
    env = make_task_env(spec)
    entry = lib.get("reach")
    data = collect_rollouts(entry, env, 3, params=reach_targets, budget=5, wander_steps=0)
    assert data.start.shape == data.end.shape == (3, env.unwrapped.obs_dim)
    assert (data.steps <= 5).all() and len({tuple(p["xyz"]) for p in data.params}) == 3
    # Every rollout really moved the arm from its start.
    assert (np.linalg.norm(data.end[:, env.unwrapped.obs_layout["eef_pos"]]
                           - data.start[:, env.unwrapped.obs_layout["eef_pos"]], axis=1) > 1e-3).all()
    fs = feature_spec(env.unwrapped.obs_layout, {"obj": "cube_red", "target_xy": [0.1, 0.0]})
    assert fs.numeric == (("target_xy", 2),) and fs.pairs == (("eef_pos", "{obj}_pos"), ("{obj}_pos", "arg:target_xy"))
    # A region name where the models were fitted with a point (and back) means the same place.
    obs, _ = env.reset(seed=0)
    layout = env.unwrapped.obs_layout
    region_xy = obs[layout["goal_region_pos"]][:2].tolist()
    by_name = fs.gather(obs, layout, {"obj": "cube_red", "target_xy": "goal_region"})
    np.testing.assert_allclose(by_name, fs.gather(obs, layout, {"obj": "cube_red", "target_xy": region_xy}))
    fs_region = feature_spec(layout, {"obj": "cube_red", "target_xy": "goal_region"})
    assert "{target_xy}_pos" in fs_region.inputs
    np.testing.assert_allclose(fs_region.gather(obs, layout, {"obj": "cube_red", "target_xy": region_xy}),
                               fs_region.gather(obs, layout, {"obj": "cube_red", "target_xy": "goal_region"}), atol=0.02)
    with pytest.raises(UserError, match="need the argument 'obj'"):
        fs.gather(obs, layout, {"target_xy": region_xy})
    with pytest.raises(UserError, match="not an object of this scene"):
        fs.gather(obs, layout, {"obj": "cube_red", "target_xy": "nowhere"})
    with pytest.raises(UserError, match="at least 4 rollouts"):
        fit_skill_models(lib, "reach", lambda: make_task_env(spec), 2, params=reach_targets, budget=3)
    with pytest.raises(UserError, match="no learned models"):
        SkillModels(lib.get("reach"))
    with pytest.raises(UserError, match="unknown skill"):
        fit_skill_models(lib, "teleport", lambda: make_task_env(spec), 8)
    env.close()


def test_cli_fit_models_debug(tmp_path):
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from skill_rl.cli import app

    lib = tmp_path / "lib"
    add_scripted_primitives(SkillLibrary(lib))
    task = Path(__file__).resolve().parent.parent / "tasks" / "push_then_stack.task"
    res = CliRunner().invoke(app, ["skills", "fit-models", "--debug", "--no-progress", f"library={lib}", f"task={task}",
                                   f"out_dir={tmp_path / 'runs'}"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "pick_place@v2: 8 rollouts" in res.output
    summary = json.loads(next((tmp_path / "runs").glob("skillmodels-pick_place-*/summary.json")).read_text())
    assert summary["entry"] == "pick_place@v2" and summary["dynamics"]["n_test"] == 2
    assert SkillLibrary(lib).get("pick_place").load_dynamics() is not None
    res = CliRunner().invoke(app, ["skills", "fit-models", "--debug", f"library={lib}", "sample={xyz: [[1, 2], [0]]}",
                                   "skill=reach", f"task={task}", f"out_dir={tmp_path / 'runs'}"])
    assert res.exit_code == 2 and "sample.xyz" in res.output


def test_drawer_skill_models_predict_the_opening(lib):
    from pathlib import Path

    from skill_rl.planning.tasklang import load_task

    spec = load_task(Path(__file__).resolve().parent.parent / "tasks" / "drawer_put_close.task")
    report = fit_skill_models(lib, "open_drawer", lambda: make_task_env(spec), 12, params={"drawer": "cabinet"},
                              config=SkillModelConfig(epochs=200))
    opening = report.dynamics["per_field"]["{drawer}_opening"]
    assert opening["nothing_moves"] > 0.1  # the drawer really opens, ~15 cm
    assert opening["model"] < 0.2 * opening["nothing_moves"]
    assert "{drawer}_handle_pos" in report.features.inputs


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_precondition_classifier_over_seeds(lib, seed):
    """The blocked-target classifier of test_classifier_learns_a_real_precondition, on more data and seeds."""
    spec = parse_task(BLOCKED)

    def start(env, rng, obs):
        return green_on_red(env, obs) if rng.random() < 0.5 else obs

    report = fit_skill_models(lib, "pick_place", lambda: make_task_env(spec), 100,
                              params={"obj": "cube_yellow", "target": "cube_red"}, start_fn=start, wander_steps=10,
                              seed=seed, config=CFG)
    clf = report.classifier
    assert clf["heldout_accuracy"] >= 0.85 and clf["heldout_accuracy"] > clf["majority_accuracy"] + 0.1, clf
    moved = report.dynamics["per_field"]["{obj}_pos"]
    assert moved["model"] < 0.25 * moved["nothing_moves"]


def test_models_of_a_learned_skill(tmp_path, spec):
    """A learned (bc) skill has no object arguments: the models read every object of the scene."""
    from torch import nn

    from skill_rl.library import SkillRecord, spec_of_env

    class Drift(nn.Module):  # a fixed policy: move the hand towards +x, -y
        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            a = torch.zeros(obs.shape[0], 7)
            a[:, 0], a[:, 1], a[:, 6] = 0.6, -0.4, -1.0
            return a

    env = make_task_env(spec)
    obs_spec, action_spec = spec_of_env(env)
    env.close()
    torch.jit.save(torch.jit.script(Drift()), str(tmp_path / "policy.pt"))
    lib = SkillLibrary(tmp_path / "lib")
    lib.add(SkillRecord(name="drift", kind="bc", env_id="two_cubes", obs_spec=obs_spec, action_spec=action_spec,
                        params={"horizon": 6}), {"policy.pt": tmp_path / "policy.pt"})
    report = fit_skill_models(lib, "drift", lambda: make_task_env(spec), 12, wander_steps=5,
                              config=SkillModelConfig(epochs=200))
    assert report.features.inputs == ("eef_pos", "gripper_qpos", "cube_red_pos", "cube_yellow_pos", "goal_region_pos")
    assert report.mean_steps == 6
    eef = report.dynamics["per_field"]["eef_pos"]
    assert eef["model"] < 0.5 * eef["nothing_moves"]
    models = SkillModels(lib.get("drift"))
    env = make_task_env(spec)
    obs, _ = env.reset(seed=77)
    layout = env.unwrapped.obs_layout
    predicted = models.predict(obs, layout)[layout["eef_pos"]]
    prim = lib.get("drift").load(env)
    prim.reset()
    while not prim.done(obs):
        obs, *_ = env.step(prim.act(obs))
    assert np.linalg.norm(predicted - obs[layout["eef_pos"]]) < 0.5 * eef["nothing_moves"] + 0.01
    env.close()
