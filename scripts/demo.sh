#!/usr/bin/env bash
# The end-to-end demo (after scripts/setup.sh): scripted demos of lift(obj=cube_red) -> a BC primitive ->
# a skill library beside the scripted primitives -> tasks/place_then_lift.task planned and run in simulation ->
# the same task over ROS 2 on the simulated arm (skipped, with the reason, without the ros extra). Writes
# runs/demo-<timestamp>/ with config.yaml, metrics.csv, TensorBoard logs, library/, one MP4 per stage,
# summary.json.
#   bash scripts/demo.sh                 # 60 demos, 6000 BC steps (a few minutes on 2 CPU cores)
#   bash scripts/demo.sh --debug         # 8 demos, 300 steps: a smoke run (the learned lift rarely works)
#   bash scripts/demo.sh ros=false demos=30 bc_steps=3000
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PYTHON:-$(command -v python3 || command -v python)}"
exec "$PY" -m skill_rl demo --config configs/demo.yaml "$@"
