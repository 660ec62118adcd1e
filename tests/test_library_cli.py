"""`skill-rl skills ...`: list/show/rm/import/export/add-scripted/reindex on a temporary library."""

from __future__ import annotations

from typer.testing import CliRunner

from skill_rl.cli import app
from skill_rl.library import SkillLibrary

runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def test_skills_commands_round_trip(tmp_path):
    lib, other = str(tmp_path / "lib"), str(tmp_path / "other")
    res = cli("skills", "add-scripted", "--library", lib)
    assert res.exit_code == 0, res.output
    assert "pick_place@v1" in res.output
    res = cli("skills", "list", "--library", lib)
    assert res.exit_code == 0 and "open_drawer" in res.output and "scripted" in res.output
    res = cli("skills", "show", "push", "--library", lib)
    assert res.exit_code == 0 and "target_xy" in res.output
    archive = str(tmp_path / "push.tar.gz")
    assert cli("skills", "export", "push", archive, "--library", lib).exit_code == 0
    res = cli("skills", "import", archive, "--library", other, "--name", "my_push")
    assert res.exit_code == 0 and "my_push@v1" in res.output
    assert SkillLibrary(other).names() == ["my_push"]
    res = cli("skills", "rm", "push", "--library", lib)
    assert res.exit_code == 0 and "push@v1" in res.output
    assert "push" not in SkillLibrary(lib).names()


def test_skills_errors_are_one_line_exit_2(tmp_path):
    lib = str(tmp_path / "lib")
    cli("skills", "add-scripted", "lift", "--library", lib)
    res = cli("skills", "show", "lfit", "--library", lib)
    assert res.exit_code == 2 and "unknown skill 'lfit'" in res.output and "lift" in res.output
    assert "Traceback" not in res.output
    (tmp_path / "lib" / "manifest.json").write_text("[")
    res = cli("skills", "list", "--library", lib)
    assert res.exit_code == 2 and "corrupt" in res.output and "reindex" in res.output
    res = cli("skills", "reindex", "--library", lib)
    assert res.exit_code == 0 and "1 versions" in res.output
    assert SkillLibrary(lib).names() == ["lift"]
    res = cli("skills", "import", str(tmp_path / "nothing"), "--library", lib)
    assert res.exit_code == 2 and "no such file" in res.output
