"""Simulated Panda arm learning to reach: sim, logger, trainer and controller with config/arm.yaml.

    ros2 launch mbrl_ros arm_sim.launch.py [gui:=true] [params_file:=/path/to/your.yaml]

On a real arm, leave out the sim and remap the command topic to your forward command controller.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "mbrl_ros"
NODES = ("sim", "logger", "trainer", "controller")


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory(PACKAGE), "config", "arm.yaml")
    params_file = LaunchConfiguration("params_file")
    arguments = [
        DeclareLaunchArgument("params_file", default_value=default_params, description="parameters of every node"),
        DeclareLaunchArgument("gui", default_value="false", description="open the PyBullet window"),
    ]
    nodes = [
        Node(package=PACKAGE, executable=name, name=name, output="screen",
             parameters=[params_file] + ([{"gui": LaunchConfiguration("gui")}] if name == "sim" else []))
        for name in NODES
    ]
    return LaunchDescription(arguments + nodes)
