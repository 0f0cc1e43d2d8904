"""Save and load checkpoints of dynamics models and policies: written atomically, read with
weights_only=True. A checkpoint names the kind of network it holds (its class), so that a policy
sent where a model is expected is refused with a clear message."""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from pathlib import Path

import torch

from ..files import write_atomically
from .ensemble import GaussianEnsemble

FORMAT = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used; the message says which file and why."""


def save_checkpoint(path: str | Path, model: torch.nn.Module, metadata: dict) -> Path:
    """Write to a temporary file in the same folder, then rename: readers never see half a file.
    `model` is any network with a `config()` that rebuilds it."""
    payload = {"format": FORMAT, "kind": type(model).__name__, "model": model.config(),
               "state_dict": model.state_dict(), "metadata": metadata}
    return write_atomically(Path(path), lambda stream: torch.save(payload, stream))


def digest(data: bytes) -> str:
    """The SHA-256 of a checkpoint's bytes, as sent with them when a model travels over ROS."""
    return hashlib.sha256(data).hexdigest()


def store_received(data: bytes, sha256: str, directory: str | Path) -> Path:
    """Check a checkpoint that came as bytes against its digest and keep it as a file in
    `directory`, named by the digest; load_checkpoint then checks what it holds."""
    if digest(data) != sha256:
        raise CheckpointError(f"received checkpoint of {len(data)} bytes does not match its SHA-256 "
                              f"({sha256[:12]}...): damaged on the way, refused")
    return write_atomically(Path(directory).expanduser() / f"received_{sha256[:16]}.pt",
                            lambda stream: stream.write(data))


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu",
                    kind: type[torch.nn.Module] = GaussianEnsemble) -> tuple[torch.nn.Module, dict]:
    """The network of class `kind` a checkpoint holds, and its metadata."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"cannot read checkpoint {path}: no such file")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"cannot read checkpoint {path}: not a torch checkpoint file (the trainer and "
                              "`mbrl-ros train` write them)")
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"refusing checkpoint {path}: it holds objects other than weights, and only weights "
                              "are loaded, never code") from error
    except Exception as error:  # truncated or corrupt
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: truncated or corrupt ({first_line})") from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an mbrl_ros checkpoint of format {FORMAT}")
    held = payload.get("kind", GaussianEnsemble.__name__)
    if held != kind.__name__:
        raise CheckpointError(f"{path} holds a {held}, not a {kind.__name__}")
    try:
        model = kind(**payload["model"]).to(device)
        model.load_state_dict(payload["state_dict"])
    except Exception as error:
        raise CheckpointError(f"{path} does not hold a valid model: {error}") from error
    model.eval()
    return model, dict(payload.get("metadata", {}))
