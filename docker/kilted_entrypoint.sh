#!/usr/bin/env bash
# Entry point of docker/Dockerfile.kilted: the ROS 2 Kilted environment, then skill_interfaces and the
# skill_rl node executables (as `python -m skill_rl.ros.env` prints them), then the command.
set -eo pipefail
# shellcheck source=/dev/null
source /opt/ros/kilted/setup.bash
eval "$(python -m skill_rl.ros.env)"
exec "$@"
