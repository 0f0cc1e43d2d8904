"""Processes as /proc shows them, to find what a test or a launch left running (Linux)."""

from __future__ import annotations

from pathlib import Path

PARENT, SESSION = 1, 3  # fields of /proc/<pid>/stat after the command's name


def running_processes(field: int, value: int) -> dict[int, str]:
    """The processes, not zombies, whose stat `field` is `value` (PARENT, SESSION), with their command lines."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[field]) == value and fields[0] != "Z":
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return found
