"""The package as a ROS 2 workspace sees it: launch files, shipped files, executables, manifest."""

import ast
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def console_scripts() -> set[str]:
    setup = (ROOT / "setup.py").read_text()
    return set(re.findall(r'"([\w-]+) = mbrl_ros[\w.]*:main"', setup))


def shipped_files() -> set[str]:
    """What setup.py's data_files installs, as paths relative to the repository."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    patterns = [node.args[0].value for node in ast.walk(tree)
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "glob"]
    return {str(p.relative_to(ROOT)) for pattern in patterns for p in ROOT.glob(pattern)}


def launch_references(path: Path) -> tuple[set[str], set[str]]:
    """Executables (Node(executable=...) or the NODES tuple) and files ("config/x.yaml") it names."""
    source = path.read_text()
    tree = ast.parse(source)
    executables = {kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
                   for kw in node.keywords if kw.arg == "executable" and isinstance(kw.value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "NODES" for t in node.targets):
            executables |= {e.value for e in node.value.elts}
    files = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "join":
            parts = [a.value for a in node.args if isinstance(a, ast.Constant)]
            if parts and parts[0] in ("config", "urdf", "launch"):
                files.add("/".join(parts))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            files |= set(re.findall(r"^/?((?:config|urdf)/\w+\.(?:yaml|urdf))$", node.value))
    return executables, files


@pytest.mark.parametrize("launch_file", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_names_only_existing_executables_and_shipped_files(launch_file):
    executables, files = launch_references(launch_file)
    assert executables or any(f.startswith("launch/") for f in files), "a launch file starts or includes nodes"
    assert executables <= console_scripts(), executables - console_scripts()
    assert files <= shipped_files(), files - shipped_files()
    assert str(launch_file.relative_to(ROOT)) in shipped_files()


def test_every_node_module_has_an_executable():
    nodes = {p.stem for p in (ROOT / "mbrl_ros" / "nodes").glob("*.py") if "\ndef main(" in p.read_text()}
    assert nodes == {"sim", "logger", "trainer", "controller", "policy_trainer", "standin"}
    assert nodes <= console_scripts()


def test_package_xml_is_format_3_and_declares_what_nodes_import():
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3" and root.findtext("name") == "mbrl_ros"
    assert root.find("export/build_type").text == "ament_python"
    declared = {e.text for e in root.findall("exec_depend")}
    imported = set()
    for source in (ROOT / "mbrl_ros").rglob("*.py"):
        imported |= set(re.findall(r"^from (\w+_msgs|std_srvs|rclpy|rcl_interfaces)\b", source.read_text(), re.M))
    assert imported <= declared, imported - declared
    assert (ROOT / "resource" / "mbrl_ros").exists()


def test_every_robot_config_names_a_shipped_urdf():
    from mbrl_ros.core.params import node_parameters
    from mbrl_ros.core.paths import robot_config, robots
    from mbrl_ros.core.robots.robot import RobotSpec
    from mbrl_ros.core.tasks import make_task

    assert {"arm", "arm_hardware", "drone", "drone_attitude", "hand"} <= set(robots())
    for robot in robots():
        params = node_parameters(robot_config(robot), "controller")
        spec = RobotSpec.from_params(params)
        assert f"urdf/{spec.urdf}" in shipped_files()
        assert make_task(params["task"], spec, params).cost is not None


@pytest.mark.timeout(300)
def test_colcon_build_installs_working_executables(workspace, tmp_path):
    """Build the package as a ROS 2 workspace would, and run an installed executable."""
    assert {"config/arm.yaml", "urdf/panda_arm.urdf", "launch/arm_sim.launch.py", "package.xml"} <= {
        str(p.relative_to(workspace.share)) for p in workspace.share.rglob("*") if p.is_file()}
    assert console_scripts() <= {p.name for p in workspace.executables.iterdir()}

    env = workspace.environment()
    # The URDF is found in the installed share; the missing joints then stop the node with a clear message.
    result = subprocess.run([sys.executable, str(workspace.executables / "controller"), "--ros-args", "-p",
                             "urdf:=panda_arm.urdf"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and "velocity commands need `joints`" in result.stderr, result.stderr
    assert str(workspace.site_packages) in subprocess.run(
        [sys.executable, "-c", "import mbrl_ros; print(mbrl_ros.__file__)"],
        capture_output=True, text=True, env=env, cwd=tmp_path).stdout
