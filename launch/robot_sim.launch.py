"""A robot of this package learning in simulation: sim, logger, trainer and controller, all with
config/<robot>.yaml (arm, drone, drone_attitude or hand).

    ros2 launch mbrl_ros robot_sim.launch.py robot:=drone [gui:=true] [params_file:=/path/to/your.yaml]

On real hardware, leave out the sim and remap the command topic to your robot's controller.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "mbrl_ros"
NODES = ("sim", "logger", "trainer", "controller")


def generate_launch_description():
    robot = LaunchConfiguration("robot")
    params_file = LaunchConfiguration("params_file")
    arguments = [
        DeclareLaunchArgument("robot", default_value="arm", description="arm, drone, drone_attitude or hand"),
        DeclareLaunchArgument("params_file", description="parameters of every node",
                              default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config",
                                                                  [robot, ".yaml"]])),
        DeclareLaunchArgument("gui", default_value="false", description="open the PyBullet window"),
    ]
    nodes = [
        Node(package=PACKAGE, executable=name, name=name, output="screen",
             parameters=[params_file] + ([{"gui": LaunchConfiguration("gui")}] if name == "sim" else []))
        for name in NODES
    ]
    return LaunchDescription(arguments + nodes)
