#!/usr/bin/env bash
# Set up skill-rl on a fresh Debian 12 / Ubuntu machine (or any Linux with Python >= 3.10), idempotently:
#   1. system libraries: libosmesa6 (headless MuJoCo rendering), ffmpeg, cmake (ROS 2 interface builds);
#   2. torch, pinned as in .ci/constraints.txt, so pip takes the CPU wheel where one is available;
#   3. this repository in editable mode with the default extras (below), under .ci/constraints.txt.
#
# Knobs (environment variables):
#   PYTHON=python3.11      interpreter to install into (default: python3, else python; a venv's if active)
#   SKILL_RL_EXTRAS=sim    extras to install (default: sim,learn,robomimic,ros,libero,dist,dev; ros also builds the interface package)
#   SKIP_APT=1             skip apt-get (no root, or the libraries are there already)
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
#                          extra index for the CPU torch wheel; without a local wheel or this, pip may fetch
#                          the multi-GB CUDA build from PyPI (it works on CPU too, it is only bigger)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '[setup] %s\n' "$*"; }
EXTRAS="${SKILL_RL_EXTRAS:-sim,learn,robomimic,ros,libero,dist,dev}"

# -------------------------------------------------------------------------------------------- apt
apt_install() {
  local sudo=""
  if [[ "$(id -u)" != 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      log "not root and no sudo: skipping apt-get install $* (install them yourself, or set SKIP_APT=1)"
      return 0
    fi
  fi
  log "apt-get install $*"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

USE_APT=0
if [[ "${SKIP_APT:-0}" != 1 ]] && command -v apt-get >/dev/null 2>&1; then USE_APT=1; fi

PY="${PYTHON:-$(command -v python3 || command -v python || true)}"
pkgs=(libosmesa6 ffmpeg cmake g++ make)
if [[ -z "$PY" ]] || ! "$PY" -m pip --version >/dev/null 2>&1; then
  pkgs+=(python3 python3-pip python3-venv)  # a bare Debian image has no Python or no pip
fi
if [[ "$USE_APT" == 1 ]]; then apt_install "${pkgs[@]}"; fi
PY="${PYTHON:-$(command -v python3 || command -v python || true)}"
if [[ -z "$PY" ]]; then echo "[setup] no python3 found; install Python >= 3.10 (or set PYTHON=...)" >&2; exit 1; fi
"$PY" - <<'PYEOF'
import sys
if sys.version_info < (3, 10):
    sys.exit(f"[setup] skill-rl needs Python >= 3.10, {sys.executable} is {sys.version.split()[0]}")
PYEOF

# Debian's own Python refuses pip installs outside a venv (PEP 668). On a throwaway machine (CI, a
# container) installing into it is what we want; on a workstation prefer: python3 -m venv .venv && . .venv/bin/activate
if "$PY" -c 'import os, sys, sysconfig; sys.exit(0 if sys.prefix == sys.base_prefix and os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")) else 1)'; then
  log "$PY is an externally managed system Python: installing into it anyway (PIP_BREAK_SYSTEM_PACKAGES=1); use a venv to avoid this"
  export PIP_BREAK_SYSTEM_PACKAGES=1
fi

# -------------------------------------------------------------------------------------------- pip
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off PIP_ROOT_USER_ACTION=ignore
if [[ ",$EXTRAS," == *",learn,"* || ",$EXTRAS," == *",robomimic,"* ]]; then  # both need torch
  TORCH_PIN="$(grep -E '^torch==' .ci/constraints.txt)"
  log "pip install $TORCH_PIN"
  "$PY" -m pip install -q "$TORCH_PIN" ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"}
fi
log "pip install -c .ci/constraints.txt -e .[$EXTRAS]"
"$PY" -m pip install -q -c .ci/constraints.txt -e ".[$EXTRAS]"
if [[ ",$EXTRAS," == *",ros,"* ]]; then
  log "bash scripts/build_ros_interfaces.sh"
  PYTHON="$PY" bash scripts/build_ros_interfaces.sh
fi

if command -v pyenv >/dev/null 2>&1; then pyenv rehash || true; fi  # pyenv: expose the new skill-rl command
log "installed: $("$PY" -m skill_rl --version)"
if ! command -v skill-rl >/dev/null 2>&1; then
  log "note: the skill-rl command is not on PATH (pip put it in $("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')); 'python -m skill_rl' works too"
fi
