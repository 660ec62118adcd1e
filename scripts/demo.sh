#!/usr/bin/env bash
# The end-to-end demo (after scripts/setup.sh): scripted experts on the six tabletop tasks; writes
# runs/demo-<timestamp>/ with config.yaml, metrics.csv, TensorBoard logs, one MP4 per task, summary.json.
#   bash scripts/demo.sh                 # 5 episodes per task (~1 min on 2 CPU cores)
#   bash scripts/demo.sh --debug         # 1 episode per task
#   bash scripts/demo.sh episodes=2 'tasks=[TabletopLift,TabletopStack]'
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-$(command -v python3 || command -v python)}"
exec "$PY" -m skill_rl demo --config configs/demo.yaml "$@"
