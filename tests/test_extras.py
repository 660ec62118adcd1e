"""tests/_extras.py: a missing extra skips by default and fails when SKILL_RL_REQUIRE_EXTRAS asks for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._extras import EXTRAS, VAR, missing, require, required_extras

ROOT = Path(__file__).resolve().parents[1]
ABSENT = "skill_rl_no_such_module_xyz"  # a module that exists nowhere


def test_required_extras_parses_all_lists_and_rejects_typos():
    assert required_extras("") == required_extras("0") == frozenset()
    assert required_extras("all") == required_extras("1") == frozenset(EXTRAS)
    assert required_extras(" ros, learn ") == {"ros", "learn"}
    with pytest.raises(pytest.UsageError, match="unknown extra.*rso"):
        required_extras("ros,rso")


def test_require_returns_the_module_when_importable(monkeypatch):
    monkeypatch.setenv(VAR, "all")
    assert require("json", extra="sim") is sys.modules["json"]


def test_missing_module_skips_unless_its_extra_is_required(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{ABSENT} is not importable.*needs the ros extra"):
        require(ABSENT, extra="ros")
    monkeypatch.setenv(VAR, "learn")  # another extra required: this one still skips
    with pytest.raises(pytest.skip.Exception):
        require(ABSENT, extra="ros")
    for value in ("ros", "learn,ros", "all"):
        monkeypatch.setenv(VAR, value)
        with pytest.raises(pytest.fail.Exception, match=r"pip install -e '\.\[ros\]'.*requires it"):
            require(ABSENT, extra="ros")
    with pytest.raises(pytest.fail.Exception, match="no OpenGL.*render extra"):
        missing("no OpenGL", extra="render")
    with pytest.raises(ValueError, match="unknown extra 'rso'"):
        missing("x", extra="rso")


def _run_pytest(tmp_path: Path, env_value: str | None) -> subprocess.CompletedProcess[str]:
    """A module guarded at import time, as the real test modules are, in a pytest process of its own, with
    this suite's conftest loaded as a plugin (it rejects typos); the probe lives outside tests/ so that no
    other pytest run can collect it."""
    test = tmp_path / "test_probe.py"
    test.write_text(f'from tests._extras import require\nrequire("{ABSENT}", extra="dist")\n\n\n'
                    "def test_never_runs():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != VAR}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    if env_value is not None:
        env[VAR] = env_value
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "tests.conftest",
           "--rootdir", str(tmp_path), str(test)]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_module_level_guard_skips_or_fails_a_real_pytest_run(tmp_path):
    skipped = _run_pytest(tmp_path, None)
    out = skipped.stdout + skipped.stderr
    assert skipped.returncode == pytest.ExitCode.NO_TESTS_COLLECTED and "1 skipped" in out, out
    failed = _run_pytest(tmp_path, "all")
    out = failed.stdout + failed.stderr
    assert failed.returncode == pytest.ExitCode.INTERRUPTED and "1 error" in out, out  # a collection error
    assert f"{ABSENT} is not importable" in out and "pip install -e '.[dist]'" in out and "requires it" in out
    typo = _run_pytest(tmp_path, "dsit")
    out = typo.stdout + typo.stderr
    assert typo.returncode == pytest.ExitCode.USAGE_ERROR and "unknown extra(s) dsit" in out, out
