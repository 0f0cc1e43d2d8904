import contextlib
import os
import shutil
import signal
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from processes import PARENT, running_processes

from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec

ROOT = Path(__file__).resolve().parents[1]

torch.set_num_threads(1)

# Every ROS 2 participant of this test session, in this process and in the node processes it starts,
# stays on this machine and in a domain of its own, so parallel runs do not meet.
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ["PYTHONUNBUFFERED"] = "1"


@pytest.fixture(scope="session")
def arm_params():
    return node_parameters(robot_config("arm"), "controller")


@pytest.fixture(scope="session")
def arm(arm_params) -> RobotSpec:
    return RobotSpec.from_params(arm_params)


# What a test touches of ROS 2, beyond which the pip wheels of Jazzy and Kilted make no difference.
ROS_PACKAGES = ("rclpy", "subprocess", "probe", "mbrl_ros.nodes", "mbrl_ros.launcher", "mbrl_ros.cli", "mbrl_ros.demo")
ROS_FIXTURES = {"ros", "workspace", "launch_tools"}


def touches_ros(item) -> bool:
    """Whether a test's module uses rclpy, ROS messages, a node module or node processes, or the test
    a ROS fixture: the tests a second distribution's wheels could answer differently."""
    if ROS_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    for value in vars(item.module).values():
        name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None) or ""
        if name.startswith(ROS_PACKAGES) or name.split(".")[0].endswith(("_msgs", "_srvs")):
            return True
    return False


def pytest_collection_modifyitems(items):
    for item in items:
        if touches_ros(item):
            item.add_marker(pytest.mark.ros)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that ran nodes shows the end of each node's log (its `tmp_path/logs`), so that a
    failure on CI, whose temporary folders are gone, can be read from its output."""
    outcome = yield
    report = outcome.get_result()
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    if report.failed and tmp_path is not None:
        for log in sorted((tmp_path / "logs").glob("*.log")):
            report.sections.append((f"node log {log.name}", "".join(log.read_text().splitlines(True)[-30:])))


@pytest.fixture(autouse=True)
def no_process_outlives_its_test():
    """A node a test leaves running would talk to the next tests' nodes over DDS: kill it, and fail.
    Python's own multiprocessing resource tracker, started once for a process pool and ending with
    this process, is no node."""
    yield
    left = {pid: command for pid, command in running_processes(PARENT, os.getpid()).items()
            if "multiprocessing.resource_tracker" not in command}
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes left running by this test, now killed: {left}"


@pytest.fixture(scope="session")
def ros_session():
    import rclpy

    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()


@pytest.fixture
def ros(ros_session):
    """rclpy, initialised once for the session's probe nodes; the probes a test made end with it."""
    yield ros_session
    from probe import Probe

    for node in list(Probe.alive):
        node.destroy_node()


@dataclass(frozen=True)
class Workspace:
    """A ROS 2 workspace with this package built by `colcon build`, as a user's would be."""

    root: Path

    @property
    def prefix(self) -> Path:
        return self.root / "install" / "mbrl_ros"

    @property
    def share(self) -> Path:
        return self.prefix / "share" / "mbrl_ros"

    @property
    def executables(self) -> Path:
        return self.prefix / "lib" / "mbrl_ros"

    @property
    def site_packages(self) -> Path:
        return next((self.prefix / "lib").glob("python3*/site-packages"))

    def environment(self, *python_paths: Path) -> dict[str, str]:
        """What sourcing install/setup.bash sets for this package, with more Python paths first."""
        paths = [*map(str, python_paths), str(self.site_packages)]
        return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "AMENT_PREFIX_PATH": str(self.prefix)}


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> Workspace:
    """The tracked files copied to `src/mbrl_ros` of a new workspace, built with `colcon build`."""
    root = tmp_path_factory.mktemp("ws")
    source = root / "src" / "mbrl_ros"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in tracked.split():
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    colcon = Path(sys.executable).parent / "colcon"
    build = subprocess.run([str(colcon), "build", "--packages-select", "mbrl_ros"], cwd=root,
                           capture_output=True, text=True, timeout=240)
    assert build.returncode == 0, build.stdout + build.stderr
    return Workspace(root)


def pytest_terminal_summary(terminalreporter):
    """Each launch file started for real (test_launch.py), with its message rates, at the end of the output."""
    reports = [r for outcome in ("passed", "failed") for r in terminalreporter.stats.get(outcome, [])]
    lines = [f"{r.outcome.upper()} {value}" for r in reports for name, value in r.user_properties if name == "launch"]
    if lines:
        terminalreporter.write_sep("-", "ros2 launch, for real")
        for line in lines:
            terminalreporter.write_line(line)
