#!/usr/bin/env bash
# The test command; the README and CI (.ci/run) run exactly this after scripts/setup.sh.
#   ruff (lint) -> import-linter contracts -> mypy ([tool.mypy] packages) -> pytest (all tests except those marked slow).
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
step mypy "$PY" scripts/typecheck.py
# pytest. The ROS 2 modules (tests/test_ros_*.py) start node processes and DDS participants: each runs in a
# pytest process of its own, after the rest, so nothing a module leaves behind (threads, rclpy contexts, DDS
# participants, child processes) can reach another; each module also leases a DDS domain of its own
# (tests/conftest.py, skill_rl.ros.testing.DomainLease). Arguments naming test paths run as one pytest.
pytest_cmd=("$PY" -m pytest -q -ra --durations=15 "${markers[@]}")
pytest_module() {  # exit status 5 (no test selected, e.g. by -k) is not a failure of the module
  local rc=0
  "${pytest_cmd[@]}" "$@" || rc=$?
  [[ $rc == 0 || $rc == 5 ]]
}
paths=0
for arg in "$@"; do if [[ "$arg" == tests* || -e "$arg" ]]; then paths=1; fi; done
if [[ $paths == 1 ]]; then
  step pytest "${pytest_cmd[@]}" "$@"
else
  step pytest pytest_module --ignore-glob='tests/test_ros_*.py' "$@"
  for module in tests/test_ros_*.py; do
    step "pytest $module" pytest_module "$module" "$@"
  done
fi
exit "$status"
