"""Start the stack's nodes as separate processes with one params file, and stop them all cleanly.

This is what `ros2 launch mbrl_ros <robot>_sim.launch.py` does, for machines without launch_ros.
"""

from __future__ import annotations

import copy
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

NODES = ("sim", "logger", "trainer", "controller")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the launcher dies, so no node outlives it (Linux only)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


class Stack:
    """The node processes of one robot. Use as a context manager, or call start() and stop()."""

    def __init__(self, params_file: Path, overrides: dict | None = None, nodes=NODES,
                 log_dir: Path | None = None, env: dict | None = None):
        self.params_file, self.overrides, self.nodes = Path(params_file), overrides or {}, nodes
        self.log_dir, self.env = log_dir, env
        self.processes: dict[str, subprocess.Popen] = {}

    def command(self, node: str) -> list[str]:
        args = [sys.executable, "-m", f"mbrl_ros.nodes.{node}", "--ros-args", "-r", f"__node:={node}",
                "--params-file", str(self.params_file)]
        if self.overrides:
            args += ["--params-file", str(self._overrides_file)]
        return args

    def _write_overrides(self) -> None:
        """Overrides go in a second params file, in each node's own section: a plain `-p` would lose
        to the node's section of the first file."""
        handle, path = tempfile.mkstemp(prefix="mbrl_ros_overrides_", suffix=".yaml")
        with os.fdopen(handle, "w") as stream:
            yaml.safe_dump({node: {"ros__parameters": copy.deepcopy(self.overrides)} for node in self.nodes}, stream)
        self._overrides_file = Path(path)

    def start(self) -> "Stack":
        if self.overrides:
            self._write_overrides()
        for node in self.nodes:
            output = None
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                output = open(self.log_dir / f"{node}.log", "w")
            self.processes[node] = subprocess.Popen(
                self.command(node), stdout=output, stderr=subprocess.STDOUT if output else None,
                env=self.env or os.environ.copy(), preexec_fn=_die_with_parent)
        return self

    def dead(self) -> dict[str, int]:
        """Nodes that have exited, with their exit codes."""
        return {n: p.returncode for n, p in self.processes.items() if p.poll() is not None}

    def stop(self, timeout: float = 10.0) -> dict[str, int]:
        """Ctrl-C every node, wait for them, kill what is left. Returns the exit codes."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.overrides:
            self._overrides_file.unlink(missing_ok=True)
        return {n: p.returncode for n, p in self.processes.items()}

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
