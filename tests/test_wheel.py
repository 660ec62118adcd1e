"""The wheel carries everything an install outside a checkout needs, and nothing else.

Built offline from a copy of the source tree (``pip wheel --no-deps --no-build-isolation``: the setuptools of
this environment, no download; a copy, so a stale ``build/`` folder cannot leak into it). Then the wheel is
unpacked and imported with the checkout out of reach, and the suites, task files and robot descriptions must
come from the unpacked package. scripts/check_wheel.sh (CI) goes further: a venv, the CLI.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Not part of a source tree: VCS, build outputs, run folders, caches (what .gitignore ignores, roughly).
_TOP_IGNORED = {".git", "build", "dist", "runs", "tmp", ".venv", ".gl"}
_ANY_IGNORED = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".import_linter_cache"}


def _ignore(folder: str, names: list[str]) -> set[str]:
    top = Path(folder).resolve() == ROOT
    return {n for n in names if n in _ANY_IGNORED or n.endswith((".egg-info", ".whl"))
            or (top and n in _TOP_IGNORED)}


def package_dirs() -> dict[str, str]:
    """setup.py's ``ROOTS`` mapping (package -> source folder), read without running setup.py."""
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "ROOTS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("no ROOTS = {...} in setup.py")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_ignore)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
           "-w", str(tmp / "dist"), str(src)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    (whl,) = (tmp / "dist").glob("skill_rl-*.whl")
    return whl


@pytest.fixture(scope="module")
def names(wheel) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def test_every_module_of_every_package_is_in_the_wheel(names):
    for package, folder in package_dirs().items():
        base = ROOT / folder
        for py in base.rglob("*.py"):
            rel = py.relative_to(base)
            if "__pycache__" in rel.parts or (package == "skill_rl.tasks" and rel.name != "__init__.py"):
                continue
            if any(not part.isidentifier() for part in rel.parts[:-1]):
                continue  # not inside a package (a folder like ros_interfaces/skill_interfaces is data)
            assert "/".join([*package.split("."), *rel.parts]) in names, f"{folder}/{rel} missing from the wheel"


def test_package_data_is_in_the_wheel(names):
    """Task files and suites, robot descriptions, MJCF/YAML of the envs, py.typed: everything the code reads."""
    expected = {
        "skill_rl/tasks": sorted((ROOT / "tasks").rglob("*.task")),
        "skill_rl/hardware": sorted((ROOT / "hardware" / "robots").glob("*.yaml")),
        "skill_rl/envs": sorted([*(ROOT / "envs").rglob("*.xml"), *(ROOT / "envs").rglob("*.yaml")]),
    }
    assert len(expected["skill_rl/tasks"]) >= 40 and any("suites" in p.parts for p in expected["skill_rl/tasks"])
    assert expected["skill_rl/hardware"], "no robot description in hardware/robots"
    folders = {"skill_rl/tasks": ROOT / "tasks", "skill_rl/hardware": ROOT / "hardware", "skill_rl/envs": ROOT / "envs"}
    for prefix, files in expected.items():
        for f in files:
            assert f"{prefix}/{f.relative_to(folders[prefix]).as_posix()}" in names, f"{f} missing from the wheel"
    if (ROOT / "skill_rl" / "py.typed").is_file():
        assert "skill_rl/py.typed" in names


def test_nothing_but_skill_rl_and_its_metadata(names, wheel):
    tops = {n.split("/", 1)[0] for n in names}
    meta = {t for t in tops if t.endswith((".dist-info", ".data"))}
    assert tops - meta == {"skill_rl"}, f"unexpected top-level entries: {sorted(tops - meta - {'skill_rl'})}"
    # the .data part holds only the ROS launch files and params, installed to <prefix>/share/skill_rl/launch
    data = [n for n in names if n.split("/", 1)[0].endswith(".data")]
    assert data and all("/data/share/skill_rl/launch/" in n for n in data), data
    assert any(n.endswith("/launch/sim.yaml") for n in data) and any(n.endswith("/launch/real.yaml") for n in data)
    assert not any(n.startswith(("skill_rl/tests/", "skill_rl/benchmarks/")) or "__pycache__" in n for n in names)
    with zipfile.ZipFile(wheel) as zf:
        (ep,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "skill-rl = skill_rl.cli:main" in zf.read(ep).decode()


def test_unpacked_wheel_finds_its_data_without_the_checkout(wheel, tmp_path):
    """Imported from the unpacked wheel, run outside the checkout: suites, task files and robot descriptions
    resolve inside the unpacked package, and the ROS prefix default is per user, not a repository's."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    probe = """
import json, skill_rl, skill_rl.envs, skill_rl.hardware
from skill_rl.hardware import available_descriptions, load_description
from skill_rl.lifelong.suites import get_suite, suites_root
from skill_rl.ros.env import default_prefix
suite = get_suite("tabletop-spatial")
print(json.dumps({"skill_rl": skill_rl.__file__, "envs": skill_rl.envs.__file__, "suites_root": str(suites_root()),
                  "task_file": suite.tasks[0].factory.source, "n_tasks": len(suite),
                  "robots": available_descriptions(), "panda": load_description("panda").name,
                  "ros_prefix": str(default_prefix())}))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SKILL_RL_ROS_PREFIX")}
    env.update(PYTHONPATH=str(site), XDG_DATA_HOME=str(tmp_path / "xdg"))
    res = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    for key in ("skill_rl", "envs", "suites_root", "task_file"):
        assert Path(got[key]).is_relative_to(site), (key, got[key])
    assert got["n_tasks"] == len(list((ROOT / "tasks" / "suites" / "tabletop-spatial").glob("*.task")))
    assert "panda" in got["robots"] and got["panda"] == "panda"
    assert Path(got["ros_prefix"]) == tmp_path / "xdg" / "skill_rl" / "ros_install"
