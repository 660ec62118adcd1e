"""Run import-linter (`lint-imports`) on skill_rl, including skill_rl.envs and skill_rl.hardware.

Why a wrapper: envs/ and hardware/ ship as skill_rl.envs and skill_rl.hardware through setuptools'
package-dir mapping (setup.py). In an editable install that mapping lives in an import hook, but grimp
(import-linter's graph builder) finds submodules by walking the skill_rl/ folder on disk, where envs/ and
hardware/ are not, and fails with "Module 'skill_rl.envs' does not exist". So this script copies the
sources into a temporary tree laid out as installed (skill_rl/, skill_rl/envs/, skill_rl/hardware/), puts it
first on PYTHONPATH and runs `lint-imports` with
the repository's pyproject.toml ([tool.importlinter]). In a regular (non-editable) install the layout is
already right and the copy is harmless.

Usage: python scripts/lint_imports.py [extra lint-imports args, e.g. --verbose]
Exit status: lint-imports' own (0 = all contracts kept).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def package_dirs() -> dict[str, str]:
    """The package -> folder mapping, read from setup.py's ``ROOTS = {...}`` (one source of truth)."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ROOTS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit("scripts/lint_imports.py: no ROOTS = {...} mapping found in setup.py")


def stage(dest: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    # Parents before children, so skill_rl/ exists before skill_rl/envs is copied into it.
    for package, folder in sorted(package_dirs().items(), key=lambda kv: kv[0].count(".")):
        shutil.copytree(REPO / folder, dest.joinpath(*package.split(".")), ignore=ignore, dirs_exist_ok=True)


def main(argv: list[str]) -> int:
    # lint-imports of *this* interpreter (a venv's, not whichever is first on PATH).
    entry = "import sys; from importlinter.cli import lint_imports_command as m; sys.argv[0] = 'lint-imports'; sys.exit(m())"
    cmd = [sys.executable, "-c", entry]
    with tempfile.TemporaryDirectory(prefix="skill-rl-lint-") as tmp:
        stage(Path(tmp))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (tmp, env.get("PYTHONPATH", "")) if p)
        # cwd=tmp, not the repository: lint-imports (and `python -c`) put the working directory first on
        # sys.path, and the repository's own skill_rl/ (without envs/ and hardware/) would shadow the staged tree.
        config = str(REPO / "pyproject.toml")
        return subprocess.call([*cmd, config, "--no-cache", "--no-logo", *argv], cwd=tmp, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
