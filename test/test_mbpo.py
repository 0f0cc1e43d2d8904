"""MBPO: soft actor-critic on short rollouts branched from recorded states through the model."""

import numpy as np
import torch
from test_mpc import drifting_model

from mbrl_ros.core.data.transitions import Transitions
from mbrl_ros.core.params import node_parameters
from mbrl_ros.core.paths import robot_config
from mbrl_ros.core.policies.mbpo import MBPO, Buffer, MBPOConfig, rollout_length
from mbrl_ros.core.policies.policy import Policy
from mbrl_ros.core.policies.sac import SAC, SACConfig
from mbrl_ros.core.robots.robot import RobotSpec
from mbrl_ros.core.tasks import make_task


def drone_mbpo(branches: int, max_length: int) -> tuple[MBPO, Transitions]:
    """The drone's fly_to task over a model in which it sinks 5 cm a step whatever it is commanded,
    and recorded level states 20 to 40 cm up."""
    params = node_parameters(robot_config("drone"), "controller")
    spec = RobotSpec.from_params(params)
    task = make_task("fly_to", spec, params)
    states = np.zeros((50, spec.state_dim))
    states[:, 2] = np.linspace(0.2, 0.4, 50)
    states[:, [3, 7]] = 1.0  # level: body x along world x, body y along world y
    data = Transitions(states, np.full((50, 4), 0.5), states)
    policy = Policy(spec.state_dim, 6, 4, hidden=16)
    policy.set_bounds(*(task.tensor(b) for b in spec.command_bounds))
    torch.manual_seed(0)
    return MBPO(task, SAC(policy, SACConfig(hidden=16)), MBPOConfig(branches=branches, max_length=max_length)), data


def test_branches_start_at_recorded_states_take_k_steps_and_stop_where_the_episode_ends():
    mbpo, data = drone_mbpo(branches=30, max_length=10)
    mbpo.set_real(data)
    sink = np.zeros(data.states.shape[1])
    sink[2] = -0.05
    model = drifting_model(len(sink), 4, sink)
    with torch.no_grad():
        model.min_logvar.fill_(-30.0)  # a model sure of itself: each step sinks exactly 5 cm
        model.max_logvar.fill_(-29.0)
    recorded = torch.as_tensor(data.states[:, 2], dtype=torch.float32)

    def steps_below_a_recorded_height(heights):
        """How many 5 cm steps each height is below the recorded height it came from."""
        steps = (recorded[None] - heights[:, None]) / 0.05
        return steps.round()[((steps - steps.round()).abs() < 1e-3) & (steps > -0.5)].reshape(len(heights), -1)[:, 0]

    assert mbpo.branch(model, length=3) == 90, "none of these reaches the ground within 3 steps"
    steps = steps_below_a_recorded_height(mbpo.model_data.data["states"][:, 2])
    assert sorted(steps.tolist()) == [0.0] * 30 + [1.0] * 30 + [2.0] * 30, "30 recorded starts, 3 steps each"

    mbpo.model_data = type(mbpo.model_data)(1000)
    mbpo.branch(model, length=10)
    branch = mbpo.model_data.data
    done = branch["done"].bool()
    assert torch.equal(done, branch["next_states"][:, 2] < 0.03), "done exactly where the drone reaches the ground"
    assert int(done.sum()) == 30, "every branch ends there, once"
    assert (branch["states"][:, 2] >= 0.03).all(), "and none goes on from the ground"
    low, high = mbpo.sac.policy.low.numpy(), mbpo.sac.policy.high.numpy()
    command = mbpo.explore(data.states[0], np.array([0.0, 0.0, 1.0]))
    assert command.shape == (4,) and np.all(command >= low) and np.all(command <= high), "what it flies with"


def test_the_buffer_keeps_the_newest_transitions_it_has_room_for():
    buffer = Buffer(5)
    for start in (0, 3, 6):
        rows = torch.arange(start, start + 3, dtype=torch.float32)[:, None]
        buffer.add(**{field: rows for field in Buffer.FIELDS})
    assert len(buffer) == 5
    assert sorted(buffer.data["states"][:, 0].tolist()) == [4, 5, 6, 7, 8]
    buffer.add(**{field: torch.arange(20.0, 28.0)[:, None] for field in Buffer.FIELDS})
    assert sorted(buffer.data["states"][:, 0].tolist()) == [23, 24, 25, 26, 27]
    sample = buffer.sample(100, torch.Generator().manual_seed(0))
    assert set(sample["states"][:, 0].tolist()) <= {23, 24, 25, 26, 27}
    assert torch.equal(sample["states"], sample["rewards"])


def test_the_rollout_length_grows_as_the_models_error_falls():
    config = MBPOConfig(max_length=10, error_budget=0.5)
    assert [rollout_length(mse, config) for mse in (1.0, 0.25, 0.1, 0.01)] == [1, 2, 5, 10]


def test_sac_learns_the_value_and_the_best_action_of_a_one_step_problem():
    """Reward -(a - 0.5)^2 for a unit action a, and every step ends the episode: Q must become the
    reward, and the actor's actions must move towards 0.5."""
    torch.manual_seed(0)
    policy = Policy(2, 1, 1, hidden=32)
    sac = SAC(policy, SACConfig(hidden=32, learning_rate=3e-3, initial_alpha=0.01))
    states, goals = torch.randn(256, 2), torch.zeros(256, 1)

    def q_error() -> float:
        """On the actions the actor takes, where the critic has data."""
        with torch.no_grad():
            actions = sac.sample(states, goals)[0]
            return float((sac.q(sac.critic, states, goals, actions).min(0).values + (actions[:, 0] - 0.5).square())
                         .abs().mean())

    def reward_of_samples() -> float:
        with torch.no_grad():
            return float(-(sac.sample(states, goals)[0] - 0.5).square().mean())

    before = q_error(), reward_of_samples()
    for _ in range(400):
        actions = sac.sample(states, goals)[0].detach()
        sac.update(states, goals, actions, -(actions[:, 0] - 0.5).square(), states, goals, torch.ones(256))
    after = q_error(), reward_of_samples()
    assert after[0] < 0.2 * before[0], (before, after)
    assert after[1] > before[1] + 0.1, (before, after)
