import numpy as np
import pytest
from bags import record_linear_motion

from mbrl_ros.cli import main
from mbrl_ros.core.models.evaluation import EXPECTED_COVERAGE, chains, coverage


@pytest.mark.parametrize("sigmas", [1, 2])
def test_coverage_recovers_gaussian_shares(sigmas):
    rng = np.random.default_rng(0)
    mean = rng.normal(size=(20000, 3))
    std = rng.uniform(0.1, 2.0, size=(20000, 3))
    truth = mean + std * rng.standard_normal((20000, 3))
    np.testing.assert_allclose(coverage(mean, std, truth, sigmas), EXPECTED_COVERAGE[sigmas], atol=0.01)


def test_overconfident_predictions_cover_too_little():
    rng = np.random.default_rng(1)
    mean, truth = np.zeros((5000, 1)), rng.standard_normal((5000, 1))
    assert coverage(mean, np.full((5000, 1), 0.5), truth, 1)[0] < 0.45


def test_chains_follow_consecutive_periods():
    times = np.array([0.0, 0.05, 0.1, 0.3, 0.35, 0.4, 0.45])
    assert chains(times, 0.05, 1).tolist() == list(range(7))
    assert chains(times, 0.05, 3).tolist() == [0, 3, 4]
    assert chains(times, 0.05, 5).tolist() == []


def test_eval_model_prints_plots_and_writes_json(tmp_path, capsys):
    joints = [f"panda_joint{i}" for i in range(1, 8)]
    record_linear_motion(tmp_path / "bag", joints, seconds=8.0)
    assert main(["train", "--bag", str(tmp_path / "bag"), "--output", str(tmp_path / "m.pt")]) == 0
    code = main(["eval-model", "--checkpoint", str(tmp_path / "m.pt"), "--bag", str(tmp_path / "bag"),
                 "--horizon", "5", "--plot", str(tmp_path / "eval.png"), "--json", str(tmp_path / "eval.json")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "panda_joint7.velocity" in printed and "5-step RMSE" in printed
    assert (tmp_path / "eval.png").stat().st_size > 10000
    import json

    result = json.loads((tmp_path / "eval.json").read_text())
    assert set(result["k_step_rmse"]) == {"1", "2", "3", "4", "5"}
    one_step = np.array(result["k_step_rmse"]["1"])
    np.testing.assert_allclose(one_step, result["one_step_rmse"], rtol=1e-4)
    # Open-loop errors grow with the horizon, for positions at least.
    assert np.mean(result["k_step_rmse"]["5"][:7]) > np.mean(one_step[:7])
