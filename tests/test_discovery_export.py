"""Export a discovery run into the skill library: TorchScript policy, one entry per z, same actions."""

from __future__ import annotations

import numpy as np
import pytest

from tests._extras import require

th = require("torch", extra="learn")
require("stable_baselines3", extra="learn")

from skill_rl.discovery.export import ExportError, export_run  # noqa: E402
from skill_rl.discovery.policy import SkillPolicy  # noqa: E402
from skill_rl.discovery.train import DiscoveryConfig, make_env, run_discovery  # noqa: E402
from skill_rl.library import SkillLibrary  # noqa: E402

th.set_num_threads(1)


@pytest.mark.parametrize("base", ["ppo", "sac"])
def test_export_run_adds_one_loadable_skill_per_z(tmp_path, base):
    summary = run_discovery(DiscoveryConfig(debug=True, base=base, run_root=str(tmp_path / "runs"), video=False,
                                            run_name="push"), progress=False)
    lib = SkillLibrary(tmp_path / "lib")
    entries = export_run(summary["run_dir"], lib)
    assert [e.name for e in entries] == [f"push_slim_{base}_z0", f"push_slim_{base}_z1"]  # debug: 2 discrete skills
    assert all(e.kind == "slim" and e.params["horizon"] == 50 for e in entries)
    assert entries[1].params["z"] == [0.0, 1.0]
    assert "object_coverage" in entries[0].metrics and "skill_grasp_rate" in entries[0].metrics
    policy = SkillPolicy.load(summary["skill_policy"])
    env = make_env(DiscoveryConfig(debug=True, n_skills=2))
    obs, _ = env.reset(seed=3)
    base_obs = obs[: env.base_dim]  # skills take the plain task observation; z comes from the entry
    for e in entries:
        prim = lib.get(e.name).load(env.unwrapped)
        prim.reset()
        sid = e.params["skill_index"]
        np.testing.assert_allclose(prim.act(base_obs), policy.act(base_obs, sid), rtol=0, atol=1e-5)
        assert prim.horizon == 50
    env.close()
    # exporting again makes new versions, not duplicates
    again = export_run(summary["run_dir"], lib, prefix=f"push_slim_{base}")
    assert [e.version for e in again] == [2, 2]
    if base == "ppo":  # the CLI paths: skills add-slim, discover --eval
        from typer.testing import CliRunner

        from skill_rl.cli import app

        res = CliRunner().invoke(app, ["skills", "add-slim", summary["run_dir"], "--library", str(tmp_path / "cli")])
        assert res.exit_code == 0, res.output
        assert "push_slim_ppo_z1@v1" in res.output
        res = CliRunner().invoke(app, ["skills", "add-slim", str(tmp_path), "--library", str(tmp_path / "cli")])
        assert res.exit_code == 2 and "no skill_policy.pt" in res.output
        res = CliRunner().invoke(app, ["discover", "--eval", summary["run_dir"]])
        assert res.exit_code == 0, res.output
        assert "eval/skill_classifier_accuracy" in res.output


def test_export_refuses_a_folder_without_a_policy(tmp_path):
    with pytest.raises(ExportError, match="no skill_policy.pt"):
        export_run(tmp_path, SkillLibrary(tmp_path / "lib"))
