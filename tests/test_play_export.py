"""Export of Play-LMP / Play-GCBC into the skill library (skill_rl.play.export): the TorchScript skill loaded
from the library acts exactly like the saved policy (deterministic), re-planning included."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "osmesa")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from skill_rl import envs  # noqa: E402
from skill_rl.play.models import ActorConfig, PlanActor  # noqa: E402
from skill_rl.play.policy import LatentPlanPolicy  # noqa: E402


@pytest.mark.parametrize("latent", [4, 0])
def test_exported_skill_acts_like_the_policy(tmp_path, latent):
    from skill_rl.library import SkillLibrary
    from skill_rl.play.export import export_play_policy

    env = envs.make("TabletopPlay-v0")
    obs, _ = env.reset(seed=0)
    dim = obs.shape[0]
    torch.manual_seed(0)
    actor = PlanActor(ActorConfig(obs_dim=dim, act_dim=7, latent_dim=latent, hidden=32, n_mix=3, n_bins=64))
    rng = np.random.default_rng(0)
    actor.set_normaliser(rng.normal(size=dim) * 0.1, 0.5 + rng.random(dim))
    path = LatentPlanPolicy(actor, replan_every=3).save(tmp_path / "p.pt")
    entry = export_play_policy(path, SkillLibrary(tmp_path / "lib"), name="play_skill", horizon=12)
    assert entry.kind == ("play_lmp" if latent else "bc")
    goal, _ = env.reset(seed=1)
    obs, _ = env.reset(seed=0)
    prim = SkillLibrary(tmp_path / "lib").get("play_skill").load(env, goal=goal)
    ref = LatentPlanPolicy.load(path, deterministic=True)
    prim.reset()
    ref.reset()
    for _ in range(8):
        a, b = prim.act(obs), ref.act(obs, goal)
        np.testing.assert_allclose(a, b, atol=1e-5)
        obs, *_ = env.step(a)
    assert not prim.done(obs)
    env.close()


def test_cli_play_export(tmp_path):
    """`skill-rl play export` stores the skill; a missing policy file is a clear error, nothing stored."""
    from typer.testing import CliRunner

    from skill_rl.cli import app
    from skill_rl.library import SkillLibrary

    dim = envs.make("TabletopPlay-v0").unwrapped.obs_dim
    path = LatentPlanPolicy(PlanActor(ActorConfig(obs_dim=dim, act_dim=7, latent_dim=0, hidden=16, n_mix=2,
                                                  n_bins=16))).save(tmp_path / "gcbc.pt")
    lib = tmp_path / "lib"
    res = CliRunner().invoke(app, ["play", "export", str(path), "--name", "gcbc_skill", "--library", str(lib)])
    assert res.exit_code == 0, res.output
    assert SkillLibrary(lib).get("gcbc_skill").kind == "bc"
    res = CliRunner().invoke(app, ["play", "export", str(tmp_path / "nope.pt"), "--library", str(lib)])
    assert res.exit_code != 0 and "not found" in res.output
    assert [e.name for e in SkillLibrary(lib).list()] == ["gcbc_skill"]
