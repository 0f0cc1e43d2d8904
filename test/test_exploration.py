import numpy as np

from mbrl_ros.core.control.exploration import WaypointExplorer
from mbrl_ros.core.sims.fixed_base import RobotSim


def test_exploration_covers_the_box_smoothly_within_command_bounds(arm, arm_params):
    box = arm.workspace
    sim = RobotSim(arm, initial_positions=np.array(arm_params["workspace_center"]))
    explorer = WaypointExplorer(arm, {}, dt=0.05, rng=np.random.default_rng(0))
    low, high = arm.command_bounds
    positions, commands = [], []
    for _ in range(600):  # 30 s at 20 Hz
        command = explorer(sim.state())
        sim.command(command)
        sim.step(12)
        commands.append(command)
        positions.append(sim.state()[: arm.dof])
    positions, commands = np.array(positions), np.array(commands)
    sim.close()
    assert np.all(commands >= low) and np.all(commands <= high)
    width = box[1] - box[0]
    assert np.all(positions.min(0) > box[0] - 0.25 * width) and np.all(positions.max(0) < box[1] + 0.25 * width)
    assert np.all(positions.max(0) - positions.min(0) > 0.5 * width), "visits most of the box on every joint"
    lag_one = np.mean([np.corrcoef(commands[:-1, j], commands[1:, j])[0, 1] for j in range(arm.dof)])
    assert lag_one > 0.7, f"smooth: consecutive commands are correlated (white noise: 0), got {lag_one:.2f}"
