#!/usr/bin/env bash
# The test command; the README and CI (.ci/run) run exactly this after scripts/setup.sh.
#   ruff (lint) -> import-linter contracts -> pytest (all tests except those marked slow).
# Every step runs even if an earlier one fails; the exit status is non-zero if any failed.
# Extra arguments go to pytest (bash scripts/test.sh -k config -x). SKILL_RL_SLOW=1 also runs the slow tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-$(command -v python3 || command -v python)}"

# Headless MuJoCo rendering: osmesa (CPU) when nothing else is chosen and libOSMesa is installed.
if [[ -z "${MUJOCO_GL:-}" && -z "${DISPLAY:-}" ]] \
  && "$PY" -c 'import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library("OSMesa") else 1)'; then
  export MUJOCO_GL=osmesa
fi

# ROS 2 tests: keep DDS on loopback (the default multicasts on every network card); tests pick their own
# ROS_DOMAIN_ID.
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$PWD/build/ros_log}"

status=0
step() {
  local name="$1"; shift
  printf '\n==> %s: %s\n' "$name" "$*"
  local t0=$SECONDS
  if "$@"; then printf '==> %s: ok (%ss)\n' "$name" $((SECONDS - t0)); else
    printf '==> %s: FAILED (%ss)\n' "$name" $((SECONDS - t0)); status=1
  fi
}

markers=(-m "not slow")
if [[ "${SKILL_RL_SLOW:-0}" == 1 ]]; then markers=(); fi

step ruff "$PY" -m ruff check .
step import-linter "$PY" scripts/lint_imports.py
step pytest "$PY" -m pytest -q -ra --durations=15 "${markers[@]}" "$@"
exit "$status"
