import numpy as np
import pytest
import torch

from mbrl_ros.core.data.transitions import Transitions
from mbrl_ros.core.models.ensemble import GaussianEnsemble
from mbrl_ros.core.models.training import TrainConfig, gaussian_nll, train_ensemble


def known_dynamics(states, actions):
    """A smooth nonlinear system: a damped pendulum-like map in 2D, driven by the action."""
    x, v = states[:, :1], states[:, 1:]
    return np.hstack([x + 0.1 * v, v + 0.1 * (-np.sin(x) - 0.2 * v + actions)])


def make_data(n, rng, noise=0.0):
    states = rng.uniform(-2, 2, size=(n, 2))
    actions = rng.uniform(-1, 1, size=(n, 1))
    next_states = known_dynamics(states, actions) + noise * rng.standard_normal((n, 2))
    return Transitions(states, actions, next_states)


def test_ensemble_fits_known_dynamics_to_low_held_out_error():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = GaussianEnsemble(2, 1, members=4, hidden=64, layers=2)
    train_ensemble(model, make_data(3000, rng), TrainConfig(max_epochs=150, patience=20))

    test = make_data(500, rng)
    states, actions = (torch.as_tensor(a, dtype=torch.float32) for a in (test.states, test.actions))
    mean, variance = model.predict(states.expand(4, -1, -1), actions.expand(4, -1, -1))
    error = (mean.mean(0).numpy() - test.next_states)
    delta_scale = np.abs(test.next_states - test.states).mean()
    assert np.abs(error).mean() < 0.05 * delta_scale, np.abs(error).mean()
    assert torch.all(variance > 0)


def test_predicted_variance_tracks_noise():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    model = GaussianEnsemble(2, 1, members=3, hidden=64, layers=2)
    train_ensemble(model, make_data(3000, rng, noise=0.05), TrainConfig(max_epochs=150, patience=20))
    test = make_data(300, rng)
    states, actions = (torch.as_tensor(a, dtype=torch.float32) for a in (test.states, test.actions))
    _, variance = model.predict(states.expand(3, -1, -1), actions.expand(3, -1, -1))
    predicted_std = variance.sqrt().mean().item()
    assert 0.025 < predicted_std < 0.1, predicted_std


def test_members_differ_and_batch_as_one_call():
    model = GaussianEnsemble(3, 2, members=5, hidden=16, layers=2)
    states, actions = torch.randn(7, 3).expand(5, -1, -1), torch.randn(7, 2).expand(5, -1, -1)
    mean, _ = model(model.normalize_inputs(states, actions))
    assert mean.shape == (5, 7, 3)
    assert not torch.allclose(mean[0], mean[1])


def test_ignored_inputs_do_not_change_predictions_but_are_still_predicted():
    """A drone's position: predicted (it moves), never an input (the dynamics do not depend on it)."""
    torch.manual_seed(0)
    model = GaussianEnsemble(3, 1, members=2, hidden=16, layers=2, ignored_inputs=(0,))
    rng = np.random.default_rng(0)
    states = rng.uniform(-2, 2, size=(500, 3))
    actions = rng.uniform(-1, 1, size=(500, 1))
    next_states = states + np.hstack([0.1 * states[:, 1:2], 0.1 * actions, 0.05 * states[:, 2:3]])
    train_ensemble(model, Transitions(states, actions, next_states), TrainConfig(max_epochs=40))
    s = torch.as_tensor(states[:8], dtype=torch.float32).expand(2, -1, -1)
    a = torch.as_tensor(actions[:8], dtype=torch.float32).expand(2, -1, -1)
    moved = s.clone()
    moved[..., 0] += 100.0
    mean, _ = model.predict(s, a)
    mean_moved, _ = model.predict(moved, a)
    torch.testing.assert_close(mean_moved[..., 1:], mean[..., 1:])
    torch.testing.assert_close(mean_moved[..., 0] - 100.0, mean[..., 0], atol=1e-3, rtol=0)
    plan = torch.as_tensor(rng.uniform(-1, 1, size=(2, 4, 5, 1)), dtype=torch.float32)
    fast = model.rollout_means(moved[:, :4], plan)
    step = moved[:, :4]
    for t in range(5):
        step, _ = model.predict(step, plan[:, :, t])
    torch.testing.assert_close(fast[:, :, -1], step, atol=1e-4, rtol=1e-4)


def test_a_continuous_joint_is_learned_as_its_angles_change_and_predicted_with_matching_sine_and_cosine():
    """A valve: state (angle, sin, cos); the turn is a function of the action alone, at any angle.
    The network sees sin and cos, learns the angle's change, and every prediction's sin and cos are
    those of its angle, in predict() and along the planners' fast rollout alike."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    angles = rng.uniform(-np.pi, np.pi, 600)
    actions = rng.uniform(-1, 1, size=(600, 1))
    turned = angles + 0.3 * actions[:, 0]
    as_state = lambda a: np.stack([a, np.sin(a), np.cos(a)], -1)  # noqa: E731
    model = GaussianEnsemble(3, 1, members=2, hidden=32, layers=2, ignored_inputs=(0,), angle_columns=((0, 1, 2),))
    train_ensemble(model, Transitions(as_state(angles), actions, as_state(turned)), TrainConfig(max_epochs=60))
    s = torch.as_tensor(as_state(np.array([3.0, -3.0, 0.5])), dtype=torch.float32).expand(2, -1, -1)
    a = torch.tensor([[0.8], [-0.8], [0.5]]).expand(2, -1, -1)
    mean, _ = model.predict(s, a)
    torch.testing.assert_close(mean[..., 0] - s[..., 0], 0.3 * a[..., 0], atol=0.03, rtol=0)
    torch.testing.assert_close(mean[..., 1:], torch.stack([mean[..., 0].sin(), mean[..., 0].cos()], -1))
    plan = torch.full((2, 3, 4, 1), 0.5)
    fast = model.rollout_means(s, plan)
    torch.testing.assert_close(fast[..., 1:], torch.stack([fast[..., 0].sin(), fast[..., 0].cos()], -1))
    torch.testing.assert_close(fast[:, :, -1, 0] - s[..., 0], torch.full((2, 3), 0.6), atol=0.1, rtol=0)
    assert GaussianEnsemble(**model.config()).angle_columns == ((0, 1, 2),), "kept in the checkpoint's config"


def test_new_data_statistics_leave_the_predictions_unchanged():
    """A warm start on more data begins where the last model ended, whatever the new statistics."""
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    model = GaussianEnsemble(2, 1, members=3, hidden=16, layers=2, ignored_inputs=(0,))
    train_ensemble(model, make_data(400, rng), TrainConfig(max_epochs=5))
    states = torch.randn(3, 20, 2)
    actions = torch.randn(3, 20, 1)
    before_mean, before_variance = model.predict(states, actions)
    model.set_normalization(torch.randn(500, 3) * 4 + 2, torch.randn(500, 2) * 0.3 - 1, keep_predictions=True)
    after_mean, after_variance = model.predict(states, actions)
    torch.testing.assert_close(after_mean, before_mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(after_variance, before_variance, atol=1e-6, rtol=1e-3)


def test_beta_nll_with_beta_one_gives_the_mean_a_squared_errors_gradient_whatever_the_variance():
    """The plain NLL scales the mean's gradient by 1/variance: a dimension predicted as noisy stops
    being fitted. beta-NLL with beta 1 does not, and keeps the NLL's optimum."""
    target = torch.zeros(1, 4, 2)
    logvar = torch.tensor([[[-2.0, 3.0]] * 4])
    for beta, expected in ((0.0, 2 * 0.5 * torch.exp(-logvar) / 8), (1.0, torch.full_like(logvar, 2 * 0.5 / 8))):
        mean = torch.full((1, 4, 2), 0.5, requires_grad=True)
        gaussian_nll(mean, logvar, target, beta).sum().backward()
        torch.testing.assert_close(mean.grad, expected)
    at_the_error = torch.full((1, 1, 2), float(np.log(0.25)), requires_grad=True)  # variance = error^2
    gaussian_nll(torch.full((1, 1, 2), 0.5), at_the_error, torch.zeros(1, 1, 2), 1.0).sum().backward()
    torch.testing.assert_close(at_the_error.grad, torch.zeros(1, 1, 2), atol=1e-6, rtol=0)


def test_members_trained_apart_in_step_are_the_members_trained_together():
    """What a Ray cluster does with them (cluster.py), here: each member its own MemberFit."""
    from mbrl_ros.core.models.training import Crew, MemberFit

    data = make_data(2000, np.random.default_rng(2), noise=0.02)
    config = TrainConfig(max_epochs=40, patience=2, seed=3)  # stops early, on the members' mean loss
    torch.manual_seed(0)
    together = GaussianEnsemble(2, 1, members=3, hidden=32, layers=2)
    apart = GaussianEnsemble(2, 1, members=3, hidden=32, layers=2)
    apart.load_state_dict(together.state_dict())
    metrics = train_ensemble(together, data, config)
    def one_fit_a_member(model, train, held_out, bootstrap, config):
        return Crew([MemberFit(model.select([m]), train, held_out, bootstrap[m:m + 1], config, model.members)
                     for m in range(model.members)])

    apart_metrics = train_ensemble(apart, data, config, place_members=one_fit_a_member)
    assert metrics["epoch"] < 40
    assert apart_metrics["epoch"] == metrics["epoch"] and apart_metrics["mse"] == pytest.approx(metrics["mse"], 1e-5)
    for name, value in together.state_dict().items():
        assert torch.allclose(value, apart.state_dict()[name], atol=1e-5), name


def test_members_selected_and_joined_predict_as_they_did_in_the_whole():
    torch.manual_seed(0)
    model = GaussianEnsemble(3, 2, members=4, hidden=16, layers=2)
    model.set_normalization(torch.randn(50, 5) * 3 + 1, torch.randn(50, 3) * 0.1)
    states, actions = torch.randn(7, 3).expand(4, -1, -1), torch.randn(7, 2).expand(4, -1, -1)
    parts = [model.select([0, 1]), model.select([2]), model.select([3])]
    joined = GaussianEnsemble.join(parts)
    assert [p.members for p in parts] == [2, 1, 1] and joined.members == 4
    for a, b in zip(model.predict(states, actions), joined.predict(states, actions)):
        assert torch.equal(a, b)
    assert torch.equal(parts[1].predict(states[:1], actions[:1])[0], model.predict(states, actions)[0][2:3])


def test_a_checkpoint_with_one_variance_bound_for_all_members_loads_with_it_for_each():
    model = GaussianEnsemble(3, 2, members=4, hidden=16, layers=2)
    old = model.state_dict()
    old["max_logvar"], old["min_logvar"] = torch.full((3,), 0.25), torch.full((3,), -7.0)
    fresh = GaussianEnsemble(3, 2, members=4, hidden=16, layers=2)
    fresh.load_state_dict(old)
    assert fresh.max_logvar.shape == (4, 1, 3) and torch.all(fresh.max_logvar == 0.25)
    assert torch.all(fresh.min_logvar == -7.0)
