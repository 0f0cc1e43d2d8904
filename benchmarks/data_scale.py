"""How the data path scales with hours of real-rate data: what reading a robot's recordings costs.

For each length, writes a recording as a real arm leaves it (`/joint_states` at --rate Hz with the
Panda's 7 joints and 2 finger joints in the driver's own order and header stamps, 20 Hz velocity
commands on the forward controller's topic, 10 s MCAP chunks as the logger writes them), then reads
it in a fresh process, as `mbrl-ros train --bag` does and as the trainer node does (the chunks
appearing one at a time, each poll timed), and reports per length: messages per second decoded,
seconds to transitions, peak resident memory, the last and the slowest poll, the transitions.

    .venv/bin/python benchmarks/data_scale.py [--minutes 2 10 60 480] [--rate 500] [--keep DIR] \\
        [--out data_scale.json]

With --fleet N, writes N robots' recordings of the first --minutes each instead and times `mbrl-ros
train` on all of them (reading and training, --epochs epochs) in one process and, with --ray
ADDRESS, on that Ray cluster: seconds and the held-out error of each model.

The recording is written in pieces of one chunk, so its length is bounded by the disk only
(about 14 MB per minute at 500 Hz).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rclpy.serialization import serialize_message
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from mbrl_ros.core.data.bag import ChunkedBagWriter, closed_chunks
from mbrl_ros.core.data.cdr import joint_state_layout
from mbrl_ros.core.data.dataset import RecordedData
from mbrl_ros.core.models.checkpoint import load_checkpoint
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.robots.robot import RobotSpec

STATE_TOPIC, COMMAND_TOPIC = "/joint_states", "/forward_velocity_controller/commands"
TOPICS = {STATE_TOPIC: "sensor_msgs/msg/JointState", COMMAND_TOPIC: "std_msgs/msg/Float64MultiArray"}
DRIVER_ORDER = ["panda_joint3", "panda_finger_joint1", "panda_joint1", "panda_joint2", "panda_joint7",
                "panda_joint5", "panda_finger_joint2", "panda_joint4", "panda_joint6"]
CHUNK_SECONDS, COMMAND_RATE = 10.0, 20.0


def arm() -> tuple[RobotSpec, float]:
    params = node_parameters(robot_config("arm"), "trainer")
    return RobotSpec.from_params(params), 1.0 / float(params.get("control_rate", 20.0))


def write_recording(directory: Path, minutes: float, rate: float, seed: int = 0) -> int:
    """A recording of `minutes` at `rate` Hz in 10 s chunks; returns the messages written. Each
    JointState is rclpy's serialization of one message with its stamp and values written in."""
    rng = np.random.default_rng(seed)
    joints = len(DRIVER_ORDER)
    template = bytearray(serialize_message(JointState(name=DRIVER_ORDER, position=[0.0] * joints,
                                                      velocity=[0.0] * joints, effort=[0.0] * joints)))
    arrays, _ = joint_state_layout(bytes(template))  # where position, velocity and effort are
    writer = ChunkedBagWriter(directory, TOPICS, chunk_seconds=1e9, chunk_bytes=2**40)
    written, velocity = 0, np.zeros(7)
    position = rng.uniform(-1.0, 1.0, joints)
    for chunk in range(int(np.ceil(minutes * 60.0 / CHUNK_SECONDS))):
        start = chunk * CHUNK_SECONDS
        times = start + np.arange(0.0, CHUNK_SECONDS, 1.0 / rate)
        times = times[times < minutes * 60.0]
        commands = start + np.arange(0.0, CHUNK_SECONDS, 1.0 / COMMAND_RATE)
        next_command = 0
        for t in times:
            while next_command < len(commands) and commands[next_command] <= t:
                velocity = np.clip(velocity + rng.normal(0.0, 0.05, 7), -0.5, 0.5)
                data = serialize_message(Float64MultiArray(data=velocity.tolist()))
                writer.write(COMMAND_TOPIC, int(commands[next_command] * 1e9), data)
                next_command, written = next_command + 1, written + 1
            position[[2, 3, 0, 7, 5, 8, 4]] += velocity / rate  # the arm's joints in the driver's order
            message = template.copy()
            message[4:8] = int(t).to_bytes(4, "little")  # header.stamp, after the encapsulation header
            message[8:12] = int((t % 1.0) * 1e9).to_bytes(4, "little")
            values = np.concatenate([position, np.zeros(joints), np.zeros(joints)])
            values[joints + np.array([2, 3, 0, 7, 5, 8, 4])] = velocity
            for (offset, count), block in zip(arrays, np.split(values, 3)):
                message[offset:offset + 8 * count] = block.astype("<f8").tobytes()
            writer.write(STATE_TOPIC, int(t * 1e9), bytes(message))
            written += 1
        writer.rotate()
    writer.close()
    return written


def read(directory: Path, mode: str) -> dict:
    """Read the recording as `mode` does (in this process): 'offline' (train --bag) or 'trainer'
    (the node's polls, the chunks appearing one at a time)."""
    spec, dt = arm()
    data = RecordedData(spec.state, spec.command, dt)
    started, polls = time.perf_counter(), []
    if mode == "offline":
        data.add_path(directory)
    else:
        watched = directory.parent / "watched"
        watched.mkdir()
        for chunk in closed_chunks(directory):
            (watched / chunk.name).symlink_to(chunk.resolve(), target_is_directory=True)
            poll = time.perf_counter()
            data.refresh(watched)
            len(data)
            polls.append(time.perf_counter() - poll)
    transitions = data.transitions()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "transitions": len(transitions), "rejected": sum(data.rejected().values()),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "last_poll_s": polls[-1] if polls else None, "slowest_poll_s": max(polls, default=None)}


def measure(minutes: float, rate: float, keep: Path | None) -> dict:
    root = Path(keep or tempfile.mkdtemp(prefix="data_scale_")) / f"{minutes:g}min_{rate:g}hz"
    root.mkdir(parents=True, exist_ok=True)
    recording = root / "recording"
    started = time.perf_counter()
    messages = write_recording(recording, minutes, rate)
    size = sum(f.stat().st_size for f in recording.rglob("*") if f.is_file()) / 2**20
    row = {"minutes": minutes, "rate_hz": rate, "messages": messages, "bag_mb": size,
           "write_s": time.perf_counter() - started}
    for mode in ("offline", "trainer"):
        result = json.loads(subprocess.run([sys.executable, __file__, "--read", str(recording), "--mode", mode],
                                           check=True, capture_output=True, text=True).stdout)
        row[mode] = result | {"messages_per_s": messages / result["seconds"]}
    print(f"{minutes:g} min at {rate:g} Hz: {messages:,} messages, {size:.0f} MB; offline "
          f"{row['offline']['seconds']:.1f} s ({row['offline']['messages_per_s']:,.0f} messages/s), "
          f"{row['offline']['peak_rss_mb']:.0f} MB peak, {row['offline']['transitions']:,} transitions; trainer "
          f"{row['trainer']['seconds']:.1f} s, last poll {row['trainer']['last_poll_s'] * 1000:.0f} ms, slowest "
          f"{row['trainer']['slowest_poll_s'] * 1000:.0f} ms, {row['trainer']['peak_rss_mb']:.0f} MB peak", flush=True)
    if keep is None:
        subprocess.run(["rm", "-rf", str(root.parent)], check=True)
    return row


def fleet(robots: int, minutes: float, rate: float, epochs: int, ray: str | None, keep: Path | None) -> dict:
    root = Path(keep or tempfile.mkdtemp(prefix="data_scale_")) / f"fleet_{robots}x{minutes:g}min_{rate:g}hz"
    recordings = [root / f"robot_{i}" for i in range(robots)]
    messages = sum(write_recording(path, minutes, rate, seed=i) for i, path in enumerate(recordings))
    params = root / "arm.yaml"
    params.write_text(re.sub(r"max_epochs: \d+", f"max_epochs: {epochs}", robot_config("arm").read_text()))
    row = {"robots": robots, "minutes": minutes, "rate_hz": rate, "messages": messages, "epochs": epochs}
    bags = [argument for path in recordings for argument in ("--bag", str(path))]
    places = {"one_process": []} | ({"ray": ["--ray", ray]} if ray else {})
    for label, where in places.items():
        output, started = root / f"{label}.pt", time.perf_counter()
        subprocess.run([sys.executable, "-m", "mbrl_ros.cli", "train", *bags, "--params", str(params),
                        "--output", str(output), *where], check=True, capture_output=True)
        metrics = load_checkpoint(output)[1]["metrics"]
        row[label] = {"seconds": time.perf_counter() - started, "held_out_mse": metrics["mse"],
                      "held_out_nll": metrics["nll"], "train_size": int(metrics["train_size"])}
        print(f"{robots} x {minutes:g} min at {rate:g} Hz ({messages:,} messages), {label}: read and trained "
              f"({epochs} epochs) in {row[label]['seconds']:.1f} s, held-out MSE {metrics['mse']:.5f}", flush=True)
    if keep is None:
        subprocess.run(["rm", "-rf", str(root.parent)], check=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[2.0, 10.0])
    parser.add_argument("--rate", type=float, default=500.0, help="joint states per second")
    parser.add_argument("--keep", type=Path, help="write the recordings here and keep them")
    parser.add_argument("--out", default="data_scale.json")
    parser.add_argument("--fleet", type=int, metavar="N", help="N robots' recordings trained into one model")
    parser.add_argument("--epochs", type=int, default=10, help="with --fleet: training epochs")
    parser.add_argument("--ray", metavar="ADDRESS", help="with --fleet: also on this Ray cluster")
    parser.add_argument("--read", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=["offline", "trainer"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        print(json.dumps(read(args.read, args.mode)))
        return
    if args.fleet:
        rows = [fleet(args.fleet, args.minutes[0], args.rate, args.epochs, args.ray, args.keep)]
    else:
        rows = [measure(minutes, args.rate, args.keep) for minutes in args.minutes]
    Path(args.out).write_text(json.dumps(rows, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
