"""`ros2 launch` of every launch file the README names, for real: ROS 2 Jazzy's own launch tools (the
wheels in ../shared/vendor/ros2-jazzy-launch) start the package as `colcon build` installs it; a probe
node over DDS sees every node the file names come up and counts state and commands against the rates
the robot's config sets; SIGINT then stops everything, with exit code 0 and no process left, whether
it reaches launch alone (a supervisor, `--noninteractive`) or every process (Ctrl-C in a terminal).

Without ../shared (a user's clone) these tests skip with that reason; on CI they must run."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from probe import Probe
from processes import SESSION, running_processes

from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.nodes.common import COMMAND_QOS, RECORD_QOS
from mbrl_ros.nodes.messages import message_class

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT.parent / "shared" / "vendor" / "ros2-jazzy-launch"
STAND_INS = Path(__file__).resolve().parent / "stand_ins"
SIM_NODES = ("sim", "logger", "trainer", "controller")
MEASURE_SECONDS = 5.0


@dataclass(frozen=True)
class LaunchCase:
    file: str
    arguments: tuple[str, ...]
    robot: str  # its config: topics and rates
    nodes: tuple[str, ...]
    state_publisher: str = "sim"  # the node whose publish_rate is the state's
    enable: bool = False  # hardware: the controller commands only once ~/enable arms it
    terminal: bool = False  # run as from a terminal, stopped by Ctrl-C: SIGINT to launch and every node

    def __str__(self) -> str:
        return " ".join((self.file, *self.arguments))


CASES = [
    LaunchCase("arm_sim.launch.py", (), "arm", SIM_NODES),
    LaunchCase("arm_sim.launch.py", ("policy:=act",), "arm", SIM_NODES + ("policy_trainer",), terminal=True),
    LaunchCase("drone_sim.launch.py", (), "drone", SIM_NODES + ("policy_trainer",), terminal=True),  # policy: auto
    LaunchCase("robot_sim.launch.py", ("robot:=drone_attitude",), "drone_attitude", SIM_NODES),
    LaunchCase("hand_sim.launch.py", (), "hand", SIM_NODES),
    LaunchCase("arm_hardware.launch.py", ("standin:=true",), "arm_hardware",
               ("logger", "trainer", "controller", "standin"), state_publisher="standin", enable=True),
]


@pytest.fixture(scope="session")
def launch_tools(tmp_path_factory) -> Path:
    """Jazzy's launch, launch_ros, ros2launch, ros2cli and ros2pkg, installed into a folder of their own."""
    if not VENDOR.is_dir():
        reason = f"{VENDOR} is not beside this clone: ROS 2's launch tools have no wheel on the package index"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the launch files, but {reason}")
        pytest.skip(reason)
    target = tmp_path_factory.mktemp("launch_tools")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    *map(str, sorted(VENDOR.glob("*.whl")))], check=True, capture_output=True, timeout=120)
    return target


def ros2(launch_tools: Path, workspace, *arguments: str, home: Path | None = None, **popen) -> subprocess.Popen:
    """`ros2 ...` in the workspace's environment, as after `source install/setup.bash`; `home` for HOME."""
    env = workspace.environment(launch_tools, STAND_INS) | ({"HOME": str(home)} if home else {})
    return subprocess.Popen([str(launch_tools / "bin" / "ros2"), *arguments], env=env, **popen)


class Counter(Probe):
    """When the state and the commands were sent, on the topics and types the config names: the stamp of
    a message that has a header (a probe that falls behind still counts it), else its arrival."""

    def __init__(self, spec: RobotSpec):
        super().__init__("launch_counter")
        self.sent: dict[str, list[float]] = {}
        topics = {**spec.state.topics, spec.command.topic: spec.command.msgtype}
        for topic, msgtype in topics.items():
            qos = COMMAND_QOS if topic == spec.command.topic else RECORD_QOS  # room to count every message
            times = self.sent.setdefault(topic, [])
            self.create_subscription(message_class(msgtype), topic,
                                     lambda msg, times=times: times.append(self.sent_at(msg)), qos)

    def sent_at(self, msg) -> float:
        header = getattr(msg, "header", None)
        return self.now() if header is None else header.stamp.sec + header.stamp.nanosec * 1e-9

    def now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def count(self, topic: str, start: float, end: float) -> int:
        return sum(start <= t < end for t in self.sent[topic])

    def running(self, nodes) -> set[str]:
        return set(nodes) & set(self.get_node_names())


@dataclass
class Launched:
    """A `ros2 launch` process in a session of its own; once stopped, its exit code and what it left."""

    process: subprocess.Popen
    log: Path
    code: int | None = None
    left: tuple[str, ...] = ()

    def alive(self) -> bool:
        assert self.process.poll() is None, \
            f"ros2 launch exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
        return True

    def finished_cleanly(self) -> set[str]:
        return set(re.findall(r"\[(\w+)-\d+\]: process has finished cleanly", self.log.read_text()))


@contextlib.contextmanager
def ros2_launch(case: LaunchCase, launch_tools: Path, workspace, tmp_path: Path):
    """Start the case's launch; on leaving, SIGINT it (a supervisor's stop: launch alone, which signals
    its nodes; a terminal's Ctrl-C: every process at once), and kill whatever it left."""
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "launch.log"
    with open(log, "w") as output:
        # HOME: the configs keep data and models under ~/.ros/mbrl_ros.
        mode = () if case.terminal else ("--noninteractive",)
        launched = Launched(ros2(launch_tools, workspace, "launch", *mode, "mbrl_ros", case.file,
                                 *case.arguments, home=tmp_path, cwd=tmp_path, stdout=output,
                                 stderr=subprocess.STDOUT, start_new_session=True), log)
    try:
        yield launched
    finally:
        if launched.process.poll() is None and case.terminal:
            os.killpg(launched.process.pid, signal.SIGINT)
        elif launched.process.poll() is None:
            launched.process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            launched.code = launched.process.wait(timeout=60)
        launched.left = tuple(running_processes(SESSION, launched.process.pid).values())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launched.process.pid, signal.SIGKILL)  # so that no failure leaves nodes running


@pytest.mark.timeout(420)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_ros2_launch_runs_every_node_at_the_configured_rates_and_stops_cleanly(
        case, launch_tools, workspace, ros, tmp_path, record_property):
    params = node_parameters(robot_config(case.robot), "controller")
    spec = RobotSpec.from_params(params)
    state_topics = list(spec.state.topics)
    rates = {topic: node_parameters(robot_config(case.robot), case.state_publisher)["publish_rate"]
             for topic in state_topics} | {spec.command.topic: params["control_rate"]}

    counter = Counter(spec)
    with ros2_launch(case, launch_tools, workspace, tmp_path) as launched:
        started = time.monotonic()
        counter.spin_until(lambda: launched.alive() and counter.running(case.nodes) == set(case.nodes), 120,
                           f"the nodes {case.nodes}; up: {counter.running(case.nodes)}")
        up_after = time.monotonic() - started
        if case.enable:
            counter.spin_until(lambda: launched.alive() and all(counter.sent[t] for t in state_topics), 30, "state")
            assert counter.call("/controller/enable", True).success
        counter.spin_until(lambda: launched.alive() and counter.sent[spec.command.topic], 120, "the first command")
        start = counter.now()
        counter.spin_for(MEASURE_SECONDS)
        end = counter.now()
        counter.spin_for(0.5)  # what was sent in the window and is still on its way
        launched.alive()
    counter.destroy_node()

    counts = {topic: counter.count(topic, start, end) for topic in rates}
    summary = (f"{case}: {', '.join(case.nodes)} up after {up_after:.0f} s; " + ", ".join(
        f"{topic} {counts[topic]} in {end - start:.1f} s = {counts[topic] / (end - start):.1f} Hz (config {rate:g})"
        for topic, rate in rates.items()) + f"; SIGINT: exit {launched.code}, {len(launched.left)} process(es) left")
    record_property("launch", summary)
    assert launched.code == 0, f"ros2 launch did not exit 0 on SIGINT:\n{launched.log.read_text()[-3000:]}"
    assert not launched.left, f"processes left after ros2 launch exited: {launched.left}"
    assert launched.finished_cleanly() == set(case.nodes), launched.log.read_text()[-3000:]
    for topic, rate in rates.items():
        assert 0.8 * rate <= counts[topic] / (end - start) <= 1.2 * rate, summary


LAUNCH_ARGUMENTS = {
    "arm_sim.launch.py": {"params_file", "gui", "policy"},
    "drone_sim.launch.py": {"params_file", "gui", "policy"},
    "hand_sim.launch.py": {"params_file", "gui", "policy"},
    "robot_sim.launch.py": {"robot", "params_file", "gui", "policy"},
    "arm_hardware.launch.py": {"params_file", "standin"},
}


def test_every_launch_file_is_run_here_and_shows_its_arguments(launch_tools, workspace):
    assert {case.file for case in CASES} | {"robot_sim.launch.py"} == {
        p.name for p in (ROOT / "launch").glob("*.launch.py")} == set(LAUNCH_ARGUMENTS)
    for file, arguments in LAUNCH_ARGUMENTS.items():
        shown = ros2(launch_tools, workspace, "launch", "mbrl_ros", file, "--show-args", stdout=subprocess.PIPE,
                     stderr=subprocess.STDOUT, text=True)
        output = shown.communicate(timeout=60)[0]
        assert shown.returncode == 0, output
        assert arguments <= set(re.findall(r"^    '(\w+)':", output, re.M)), output
