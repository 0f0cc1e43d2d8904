#!/usr/bin/env bash
# Set up (first run only) and run the arm demo: learn to reach from scratch through ROS 2 topics.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(scripts/setup.sh)
exec "$venv/bin/mbrl-ros" demo "${@:-arm}"
