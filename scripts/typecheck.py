"""Run mypy on the packages that pyproject.toml's [tool.mypy] lists, as they are laid out when installed.

Why a wrapper: envs/ and hardware/ ship as skill_rl.envs and skill_rl.hardware through setuptools'
package-dir mapping (setup.py). mypy, like import-linter, finds modules on disk and cannot follow the
editable install's import hook, so this stages the installed layout in a temporary folder (the same copy
as scripts/lint_imports.py) and runs mypy there with the repository's pyproject.toml. Paths in mypy's
messages are mapped back to the repository's (skill_rl/envs/x.py -> envs/x.py). The cache lives in
build/mypy_cache, so a second run takes about a second.

Usage: python scripts/typecheck.py [extra mypy args, e.g. -p skill_rl.planning]
Exit status: mypy's own (0 = no errors).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lint_imports import REPO, package_dirs, stage  # noqa: E402


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="skill-rl-mypy-") as tmp:
        stage(Path(tmp))
        cmd = [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"),
               "--cache-dir", str(REPO / "build" / "mypy_cache"), *argv]
        # cwd=tmp: mypy searches the working directory first, where the staged skill_rl/ holds envs/ and hardware/.
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
    # Deepest package first, so skill_rl/envs/ is mapped before skill_rl/.
    folders = sorted(package_dirs().items(), key=lambda kv: -kv[0].count("."))
    for line in (proc.stdout + proc.stderr).splitlines():
        for package, folder in folders:
            staged = package.replace(".", "/") + "/"
            if line.startswith(staged):
                line = folder + "/" + line[len(staged):]
                break
        print(line)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
