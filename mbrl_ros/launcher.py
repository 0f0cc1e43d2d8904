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
        return [sys.executable, "-m", f"mbrl_ros.nodes.{node}", "--ros-args", "-r", f"__node:={node}",
                "--params-file", str(self._params_file)]

    def _write_params(self) -> Path:
        """The params file with the overrides written into each node's own section. Not `-p`, which
        loses to a node's section, nor a second file, whose values rcl drops when their type differs."""
        document = yaml.safe_load(self.params_file.read_text()) or {}
        for node in self.nodes:
            section = document.setdefault(node, {}).setdefault("ros__parameters", {})
            section.update(copy.deepcopy(self.overrides))
        handle, path = tempfile.mkstemp(prefix="mbrl_ros_params_", suffix=".yaml")
        with os.fdopen(handle, "w") as stream:
            yaml.safe_dump(document, stream)
        return Path(path)

    def start(self) -> "Stack":
        self._params_file = self._write_params() if self.overrides else self.params_file
        for node in self.nodes:
            self.processes[node] = self._spawn(node, "w")
        return self

    def restart(self, node: str) -> None:
        """Start `node` again, after it exited or was killed; its log goes on in the same file."""
        if self.processes[node].poll() is None:
            raise RuntimeError(f"{node} is still running")
        self.processes[node] = self._spawn(node, "a")

    def _spawn(self, node: str, log_mode: str) -> subprocess.Popen:
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{node}.log", log_mode)
        return subprocess.Popen(self.command(node), stdout=output, stderr=subprocess.STDOUT if output else None,
                                env=self.env or os.environ.copy(), preexec_fn=_die_with_parent)

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
        if self._params_file != self.params_file:
            self._params_file.unlink(missing_ok=True)
        return {n: p.returncode for n, p in self.processes.items()}

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
