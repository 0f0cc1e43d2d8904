"""A fleet's recordings read and one model trained on a Ray cluster (the `ray` extra; nothing else in
the package needs Ray). Ray Data reads the recordings side by side on the cluster's nodes, each with
the package's own reader (bulk decoding, the same skipping of what cannot be used), so the
transitions are those one process reads; then the ensemble's members train in Ray actors over the
nodes (a run of members each, on GPUs where the cluster has one for each), since members share only
the data's normalisation, all in step an epoch at a time, so the model is the one a single process
trains.

The recordings must be at the same path on every node (a shared or synced file system)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .core.data.dataset import RecordedData
from .core.data.transitions import Transitions
from .core.models.ensemble import GaussianEnsemble
from .core.models.training import Crew, MemberFit, TrainConfig


class ClusterError(RuntimeError):
    """No cluster to use: Ray missing, or none at the address; the message says which."""


def connect(address: str):
    """Ray, connected to the cluster at `address` ('host:port', or 'auto': the one this machine is in)."""
    try:
        import ray
    except ImportError as error:
        raise ClusterError("--ray needs Ray, an extra of mbrl_ros: install the pinned one with "
                           "`pip install -r requirements-ray.txt -c constraints.txt`") from error
    if address != "auto":
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ClusterError(f"a Ray cluster's address is host:port, or auto; not {address!r}")
        try:  # Ray itself would wait minutes for a cluster that is not there
            socket.create_connection((host, int(port)), timeout=5).close()
        except OSError as error:
            raise ClusterError(f"no Ray cluster at {address} (host:port, or auto): {error}") from error
    if not ray.is_initialized():
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ClusterError(f"no Ray cluster at {address}: {error}") from error
    return ray


def describe(ray) -> str:
    resources = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    return f"a Ray cluster of {nodes} node(s), {resources.get('CPU', 0):.0f} CPUs, {resources.get('GPU', 0):.0f} GPUs"


def read_recordings(ray, data: RecordedData, paths: Sequence[str | Path]) -> None:
    """RecordedData.add_paths on the cluster: one recording a row of a Ray Dataset, read where Ray
    places it; the transitions land in `data` in the order given."""
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    rows = ray.data.from_items([{"path": str(p)} for p in paths], override_num_blocks=len(paths))
    for row in rows.map(_read_recording, fn_args=(data.empty(),)).iter_rows():
        data.take(_from_row(data.empty(), row))


def _read_recording(row: dict, empty: RecordedData) -> dict:
    """A Ray Data transform: a recording's path in, what it holds out, as arrays and text."""
    empty.add_path(row["path"])
    transitions = empty.transitions()
    times = transitions.times if transitions.times is not None else np.full(len(transitions), np.nan)
    return {"states": transitions.states, "actions": transitions.actions, "next_states": transitions.next_states,
            "times": times, "bags": json.dumps([str(b) for b in empty.bags]),
            "unreadable": json.dumps({str(b): why for b, why in empty.unreadable.items()}),
            "rejections": json.dumps(empty.rejections)}


def _from_row(read: RecordedData, row: dict) -> RecordedData:
    dims = (len(read.layout.names), read.command.dim)
    arrays = [np.asarray(row[name], float).reshape(-1, dim)
              for name, dim in zip(("states", "actions", "next_states"), (dims[0], dims[1], dims[0]))]
    times = np.asarray(row["times"], float)
    read.parts = [Transitions(*arrays, None if np.isnan(times).any() else times)]
    read.bags = [Path(b) for b in json.loads(row["bags"])]
    read.unreadable = {Path(b): why for b, why in json.loads(row["unreadable"]).items()}
    read.rejections = json.loads(row["rejections"])
    return read


class _MemberActor(MemberFit):
    """A MemberFit in an actor of its own, on a GPU where it was given one."""

    def __init__(self, model: GaussianEnsemble, *job):
        super().__init__(model.to("cuda" if torch.cuda.is_available() else "cpu"), *job)

    def kept(self) -> GaussianEnsemble:
        return super().kept().cpu()


class RayCrew(Crew):
    """The members' fits as Ray actors spread over the cluster, called in step: as many actors as the
    cluster has CPUs (all must run at once), each with a run of consecutive members."""

    def __init__(self, ray, model: GaussianEnsemble, train: Transitions, held_out: Transitions,
                 bootstrap: np.ndarray, config: TrainConfig):
        resources = ray.cluster_resources()
        actors = max(1, min(model.members, int(resources.get("CPU", 1))))
        actor = ray.remote(num_cpus=1, num_gpus=1 if resources.get("GPU", 0) >= actors else 0)(_MemberActor)
        self.ray = ray
        self.actors = [actor.remote(model.select(list(group)), train, held_out, bootstrap[group], config, model.members)
                       for group in np.array_split(np.arange(model.members), actors)]

    def each(self, method: str) -> list:
        return self.ray.get([getattr(a, method).remote() for a in self.actors])


def member_actors(ray):
    """A `place_members` for train_ensemble: the members in Ray actors over the cluster."""
    return lambda *fit: RayCrew(ray, *fit)
