"""The code stays within what ROS 2 Humble has, which cannot be installed here (no wheels; Python 3.10).

The suite runs on Jazzy's and Kilted's wheels (.ci/run) and the launch files on Jazzy's launch; what
Humble lacks beside those is checked here: Python 3.10 syntax, and the rclpy, launch and launch_ros
names added after Humble, found by comparing the `humble` and `jazzy` branches of ros2/rclpy,
ros2/launch and ros2/launch_ros.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(p for folder in ("mbrl_ros", "launch", "test", "benchmarks", "scripts")
                 for p in (ROOT / folder).rglob("*.py"))

NEWER_MODULES = {  # rclpy modules that Humble lacks
    "rclpy.event_handler", "rclpy.clock_type", "rclpy.parameter_client", "rclpy.parameter_event_handler",
    "rclpy.service_introspection", "rclpy.type_hash", "rclpy.logging_service", "rclpy.type_description_service",
    "rclpy.experimental",
}
NEWER_NAMES = {  # names Humble's rclpy, launch and launch_ros lack, wherever they are used
    "InitContextManager", "add_pre_set_parameters_callback", "add_post_set_parameters_callback",
    "remove_pre_set_parameters_callback", "remove_post_set_parameters_callback", "count_clients",
    "count_services", "get_fully_qualified_node_names", "list_parameters", "wait_for_node",
    "get_publisher_count", "TimerInfo", "configure_introspection", "parameter_dict_from_yaml_file",
    "EqualsSubstitution", "NotEqualsSubstitution", "FileContent", "IfElseSubstitution", "LaunchLogDir",
    "LifecycleTransition", "SetROSLogDir",
}
NEWER_KEYWORDS = {"autostart"}  # Node.create_timer(..., autostart=) came after Humble


def newer_than_humble(source: str) -> list[str]:
    """What in `source` Humble's ROS 2 lacks, one line each."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            names = [] if isinstance(node, ast.Import) else [f"{node.module}.{a.name}" for a in node.names]
            found += [f"line {node.lineno}: {m}" for m in modules + names
                      if any(m == n or m.startswith(n + ".") for n in NEWER_MODULES)]
            found += [f"line {node.lineno}: {a.name}" for a in node.names if a.name in NEWER_NAMES]
        elif isinstance(node, ast.Attribute) and node.attr in NEWER_NAMES:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in NEWER_NAMES:
            found.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.keyword) and node.arg in NEWER_KEYWORDS:
            found.append(f"line {getattr(node, 'lineno', '?')}: {node.arg}=")
        elif isinstance(node, ast.With | ast.AsyncWith):
            found += [f"line {node.lineno}: with rclpy.init() (Kilted's context manager)" for item in node.items
                      if isinstance(item.context_expr, ast.Call) and ast.unparse(item.context_expr.func)
                      in ("rclpy.init", "init")]
    return found


@pytest.mark.parametrize("snippet", [
    "import rclpy\nwith rclpy.init():\n    pass",
    "from rclpy.event_handler import SubscriptionEventCallbacks",
    "import rclpy.experimental",
    "node.create_timer(0.1, callback, autostart=False)",
    "node.wait_for_node('/sim', 5.0)",
    "from launch.substitutions import EqualsSubstitution",
])
def test_the_humble_check_finds_what_humble_lacks(snippet):
    assert newer_than_humble(snippet), snippet


def test_no_source_uses_what_humble_lacks():
    found = {str(p.relative_to(ROOT)): hits for p in SOURCES if (hits := newer_than_humble(p.read_text()))}
    assert not found, found


def python_3_10() -> str | None:
    """An interpreter of Humble's Python: on the PATH, or one pyenv installed."""
    candidates = [shutil.which("python3.10"), *map(str, Path("~/.pyenv/versions").expanduser().glob("3.10*/bin/python3.10"))]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
            return candidate
    return None


def test_every_module_compiles_with_python_3_10():
    python = python_3_10()
    if python is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI checks Humble's Python, but no python3.10 is installed")
        pytest.skip("no python3.10 here (Humble's Python): install it to check the syntax")
    check = ("import sys\nfor path in sys.stdin.read().split():\n"
             "    compile(open(path).read(), path, 'exec')\nprint('compiled', sys.version.split()[0])")
    result = subprocess.run([python, "-c", check], input="\n".join(map(str, SOURCES)), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.startswith("compiled 3.10"), result.stderr
