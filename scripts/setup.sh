#!/usr/bin/env bash
# Create .venv with everything mbrl_ros needs on a machine without ROS (Python 3.11+, no root).
# Safe to run again: it reinstalls only when the requirement files change.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
stamp=.venv/.mbrl_ros_installed
wanted=$(cat requirements.txt requirements-ros.txt constraints.txt setup.py | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -r requirements-ros.txt -r requirements.txt -c constraints.txt
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
echo "$wanted" > "$stamp"
