import pytest
import torch

from mbrl_ros.core.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mbrl_ros.core.models.ensemble import GaussianEnsemble


def test_save_and_load_round_trip(tmp_path):
    model = GaussianEnsemble(4, 2, members=3, hidden=8, layers=2)
    path = save_checkpoint(tmp_path / "m.pt", model, {"joints": ["a", "b"], "dt": 0.05, "version": 3})
    loaded, metadata = load_checkpoint(path)
    assert metadata == {"joints": ["a", "b"], "dt": 0.05, "version": 3}
    x = torch.randn(3, 5, 6)
    torch.testing.assert_close(loaded(x)[0], model(x)[0])
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left behind


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", None])
def test_bad_files_raise_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.pt"
    if content is None:
        torch.save({"format": 99}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


def test_truncated_checkpoint_is_rejected(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", GaussianEnsemble(4, 2, 2, 8, 2), {})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "nope.pt")


def test_a_checkpoint_holding_code_is_refused(tmp_path):
    # A pickled object other than weights could run code when loaded: only weights are accepted.
    path = tmp_path / "hostile.pt"
    torch.save({"format": 1, "payload": Exploit()}, path)
    with pytest.raises(CheckpointError, match="only weights are loaded, never code"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


class Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))
