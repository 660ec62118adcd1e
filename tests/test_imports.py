"""Import hygiene: `import skill_rl` stays light, skill_rl.envs loads no learning/ROS/optional simulators,
and the import-linter contracts in pyproject.toml hold (ARCHITECTURE.md, "Who may import whom")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def loaded_after(statement: str, modules: list[str]) -> list[str]:
    """Which of ``modules`` are in sys.modules after running ``statement`` in a fresh interpreter."""
    code = f"import sys, json\n{statement}\nprint(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_skill_rl_is_light():
    heavy = ["torch", "mujoco", "gymnasium", "rclpy", "robosuite", "pybullet", "tensorboard", "numpy", "yaml"]
    assert loaded_after("import skill_rl", heavy) == []


def test_import_skill_rl_writes_nothing_and_prints_nothing(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", "import skill_rl"], cwd=tmp_path, capture_output=True, text=True, check=True,
        timeout=60, stdin=subprocess.DEVNULL,
    )
    assert (out.stdout, out.stderr) == ("", "")
    assert list(tmp_path.iterdir()) == []


def test_import_envs_loads_no_learning_ros_or_optional_simulators():
    assert loaded_after("import skill_rl.envs", ["torch", "robosuite", "pybullet", "rclpy", "stable_baselines3"]) == []


def test_import_cli_and_config_are_light():
    assert loaded_after("import skill_rl.cli, skill_rl.config, skill_rl.runs, skill_rl.registry",
                        ["torch", "mujoco", "gymnasium", "tensorboard", "rclpy"]) == []


@pytest.mark.timeout(300)
def test_import_linter_contracts_hold():
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "lint_imports.py")], capture_output=True, text=True, timeout=280
    )
    assert out.returncode == 0, f"import-linter contracts broken:\n{out.stdout}\n{out.stderr}"
    assert "0 broken" in out.stdout
