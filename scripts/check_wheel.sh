#!/usr/bin/env bash
# Install check outside a checkout (CI runs it from .ci/run; run it by hand the same way):
#   1. build the wheel from a copy of the source tree (no stale build/ folder; offline: --no-build-isolation
#      uses this Python's setuptools);
#   2. install it, non-editable, into a fresh venv (--system-site-packages: the heavy dependencies, torch,
#      mujoco..., come from $PYTHON's environment; the venv's own skill_rl is the wheel's, checked below);
#   3. from a temporary folder outside the checkout: skill-rl envs, skill-rl lifelong run on a suite of task
#      files (tabletop-spatial, package data), skill-rl demo --debug (the shipped place_then_lift.task: a
#      tiny BC lift, the library, a plan in simulation; its ROS 2 stage runs only if the interfaces are built
#      in the per-user prefix, and otherwise says why it skipped, without failing).
# Exit status non-zero on the first failure. About 2 minutes on 2 busy cores (90 s measured; the demo ~50 s).
#
#   bash scripts/check_wheel.sh            (PYTHON=python3.11 picks the interpreter; KEEP=1 keeps the temp folder)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$(command -v python3 || command -v python)}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/skill-rl-wheel.XXXXXX")"
if [[ "${KEEP:-0}" != 1 ]]; then trap 'rm -rf "$WORK"' EXIT; fi
log() { printf '[check-wheel] %s\n' "$*"; }
unset PYTHONPATH SKILL_RL_ROS_PREFIX  # nothing may point back into the checkout
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore

log "copy the source tree to $WORK/src"
mkdir -p "$WORK/src"
tar -C "$ROOT" --exclude=./.git --exclude=./build --exclude=./dist --exclude=./runs --exclude=./tmp \
  --exclude=./.venv --exclude='*.egg-info' --exclude='*.whl' --exclude=__pycache__ --exclude='.*_cache' -cf - . \
  | tar -C "$WORK/src" -xf -

log "build the wheel ($PY -m pip wheel --no-deps --no-build-isolation)"
"$PY" -m pip wheel -q --no-deps --no-build-isolation --no-index -w "$WORK/dist" "$WORK/src"
WHEEL="$(ls "$WORK"/dist/skill_rl-*.whl)"
log "built $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB)"

log "fresh venv (--system-site-packages) with the wheel, non-editable"
# --without-pip: $PYTHON's own pip (a system site-package) serves the venv, so Debian's python3-venv
# (ensurepip) is not needed.
"$PY" -m venv --system-site-packages --without-pip "$WORK/venv"
VPY="$WORK/venv/bin/python"
# --ignore-installed: $PYTHON may have skill-rl installed itself (editable, from this checkout); the venv
# gets its own copy from the wheel, dependencies stay those of $PYTHON (--no-deps, offline).
"$VPY" -m pip install -q --no-deps --no-index --ignore-installed "$WHEEL"

mkdir -p "$WORK/run"
cd "$WORK/run"
"$VPY" - "$WORK/venv" "$ROOT" <<'EOF'
import sys
from importlib import resources
from pathlib import Path

import skill_rl
import skill_rl.envs
import skill_rl.hardware

venv, root = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
for mod in (skill_rl, skill_rl.envs, skill_rl.hardware):
    f = Path(mod.__file__).resolve()
    print(f"[check-wheel] {mod.__name__}: {f}")
    if not f.is_relative_to(venv) or f.is_relative_to(root):
        sys.exit(f"[check-wheel] {mod.__name__} is not the wheel's copy in {venv}: {f}")
tasks = Path(str(resources.files("skill_rl.tasks")))
if not tasks.is_relative_to(venv) or not list(tasks.glob("suites/*/*.task")):
    sys.exit(f"[check-wheel] no suites in the installed package data: {tasks}")
EOF
SKILL_RL="$WORK/venv/bin/skill-rl"

log "skill-rl envs"
"$SKILL_RL" envs | tee "$WORK/envs.txt"
grep -q "TabletopPush-v0" "$WORK/envs.txt" || { log "skill-rl envs does not list TabletopPush-v0"; exit 1; }

log "skill-rl lifelong run --suite tabletop-spatial --debug (task files from the wheel)"
"$SKILL_RL" lifelong run --suite tabletop-spatial --debug --no-progress run_root="$WORK/run/runs"
ls "$WORK"/run/runs/*/results.json >/dev/null

log "skill-rl demo --debug"
"$SKILL_RL" demo --debug --no-progress

log "ROS interface prefix outside a checkout (per user, not a repository)"
got="$(XDG_DATA_HOME="$WORK/xdg" "$VPY" -c 'from skill_rl.ros.env import interfaces_prefix; print(interfaces_prefix())')"
[[ "$got" == "$WORK/xdg/skill_rl/ros_install" ]] || { log "unexpected default ROS prefix: $got"; exit 1; }

log "ok: the wheel installs and runs outside the checkout (${SECONDS}s)"
