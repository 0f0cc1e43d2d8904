import pytest
import torch

from mbrl_ros.core.models.ensemble import GaussianEnsemble
from mbrl_ros.core.planning.rollout import PROPAGATIONS, rollout

MEMBERS, STATE, ACTION = 4, 3, 2


@pytest.fixture
def model():
    """An ensemble whose members predict different, known deltas: member m adds m + 1 to every state."""
    torch.manual_seed(0)
    m = GaussianEnsemble(STATE, ACTION, members=MEMBERS, hidden=8, layers=1).eval()
    with torch.no_grad():
        m.head.weight.zero_()
        for member in range(MEMBERS):
            m.head.bias[member, 0, :STATE] = member + 1.0
            m.head.bias[member, 0, STATE:] = -4.0  # log-variance, before its soft bounds
    return m


@pytest.mark.parametrize("propagation", PROPAGATIONS)
def test_shapes(model, propagation):
    states = rollout(model, torch.zeros(STATE), torch.zeros(8, 5, ACTION), propagation)
    assert states.shape == (8, 6, STATE)
    assert torch.all(states[:, 0] == 0)


def test_ts_inf_keeps_one_member_per_particle(model):
    states = rollout(model, torch.zeros(STATE), torch.zeros(8, 5, ACTION), "ts_inf")
    steps = states[:, 1:, 0] - states[:, :-1, 0]  # the delta taken at each step
    assert torch.all(steps == steps[:, :1]), "a particle's member never changes"
    torch.testing.assert_close(steps[:, 0], torch.tensor([1.0, 1, 2, 2, 3, 3, 4, 4]))  # equal shares


def test_ts1_reshuffles_members_every_step(model):
    states = rollout(model, torch.zeros(STATE), torch.zeros(400, 10, ACTION), "ts1",
                     generator=torch.Generator().manual_seed(0))
    steps = states[:, 1:, 0] - states[:, :-1, 0]
    assert set(steps.unique().tolist()) == {1.0, 2.0, 3.0, 4.0}
    changed = (steps[:, 1:] != steps[:, :-1]).float().mean().item()
    assert 0.65 < changed < 0.85, changed  # a new uniform draw differs from the last 3 times in 4
    # Every step still gives each member an equal share.
    for t in range(10):
        assert torch.bincount(steps[:, t].long())[1:].tolist() == [100] * 4


def test_expectation_moves_to_the_members_mean(model):
    states = rollout(model, torch.zeros(STATE), torch.zeros(3, 4, ACTION), "expectation")
    torch.testing.assert_close(states[:, -1], torch.full((3, STATE), 4 * 2.5))


def test_disagreement_is_the_variance_of_member_means(model):
    _, disagreement = rollout(model, torch.zeros(STATE), torch.zeros(4, 2, ACTION), "ts_inf",
                              with_disagreement=True)
    expected = STATE * torch.tensor([1.0, 2, 3, 4]).var()
    torch.testing.assert_close(disagreement, torch.full((4, 2), expected.item()))


def test_sampling_draws_from_the_predicted_gaussian(model):
    torch.manual_seed(0)
    states = rollout(model, torch.zeros(STATE), torch.zeros(4000, 1, ACTION), "expectation", sample=True,
                     generator=torch.Generator().manual_seed(1))
    spread = states[:, 1].std(0)
    _, variance = model.predict(torch.zeros(MEMBERS, 1, STATE), torch.zeros(MEMBERS, 1, ACTION))
    torch.testing.assert_close(spread, variance.mean(0)[0].sqrt(), rtol=0.1, atol=0)
    deterministic = rollout(model, torch.zeros(STATE), torch.zeros(4, 1, ACTION), "expectation")
    assert deterministic[:, 1].std(0).max() == 0


def test_bad_propagation_is_a_clear_error(model):
    with pytest.raises(ValueError, match="propagation"):
        rollout(model, torch.zeros(STATE), torch.zeros(8, 2, ACTION), "ts2")


@pytest.mark.parametrize("propagation", ["ts_inf", "ts1"])
def test_particle_counts_that_do_not_divide_among_members(model, propagation):
    states, disagreement = rollout(model, torch.zeros(STATE), torch.zeros(7, 3, ACTION), propagation,
                                   with_disagreement=True)
    assert states.shape == (7, 4, STATE) and disagreement.shape == (7, 3)
    assert rollout(model, torch.zeros(7, STATE), torch.zeros(7, 3, ACTION), propagation).shape == (7, 4, STATE)


def test_fast_path_matches_step_by_step_prediction():
    """ts_inf without sampling takes GaussianEnsemble.rollout_means; it must equal predict()."""
    torch.manual_seed(0)
    model = GaussianEnsemble(6, 3, members=5, hidden=32, layers=3).eval()
    model.set_normalization(torch.randn(200, 9) * 3 + 1, torch.randn(200, 6) * 0.1 + 0.05)
    state, actions = torch.randn(6), torch.randn(40, 7, 3)
    fast = rollout(model, state, actions, "ts_inf")
    slow, _ = rollout(model, state, actions, "ts_inf", with_disagreement=True)
    torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_the_expectation_fast_path_matches_step_by_step_prediction():
    """expectation without sampling takes GaussianEnsemble.rollout_expectation; it must equal the
    members' predict() averaged step by step, and their variance (with a continuous joint's angle,
    sine and cosine among the state's columns, as a valve's)."""
    torch.manual_seed(0)
    model = GaussianEnsemble(6, 3, members=5, hidden=32, layers=3, angle_columns=((0, 1, 2),)).eval()
    model.set_normalization(torch.randn(200, 9) * 3 + 1, torch.randn(200, 6) * 0.1 + 0.05)
    state, actions = torch.randn(6), torch.randn(4, 7, 3)
    states, disagreement = rollout(model, state, actions, "expectation", with_disagreement=True)
    expected, spread = [state.expand(4, -1)], []
    with torch.no_grad():
        for t in range(7):
            means, _ = model.predict(expected[-1].expand(5, -1, -1), actions[:, t].expand(5, -1, -1))
            spread.append(means.var(0).sum(-1))
            expected.append(means.mean(0))
    torch.testing.assert_close(states, torch.stack(expected, 1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(disagreement, torch.stack(spread, 1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(rollout(model, state, actions, "expectation"), states)


def test_bfloat16_products_keep_float32_states_and_stay_close():
    torch.manual_seed(0)
    model = GaussianEnsemble(6, 3, members=5, hidden=32, layers=3).eval()
    model.set_normalization(torch.randn(200, 9) * 3 + 1, torch.randn(200, 6) * 0.01)
    state, actions = torch.randn(6) + 2.0, torch.randn(40, 10, 3)
    exact = rollout(model, state, actions, "ts_inf")
    reduced = rollout(model.to(torch.bfloat16), state, actions, "ts_inf")
    assert reduced.dtype == torch.float32
    moved = (exact[:, -1] - exact[:, 0]).abs().mean()
    error = (reduced[:, -1] - exact[:, -1]).abs().mean()
    assert error < 0.05 * moved, (error, moved)  # bfloat16's ~3 significant digits, not the state's size
