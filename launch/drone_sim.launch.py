"""Simulated Crazyflie-class drone learning to fly to goals from rotor commands, with config/drone.yaml.

    ros2 launch mbrl_ros drone_sim.launch.py [gui:=true] [params_file:=/path/to/your.yaml]

The same as robot_sim.launch.py with robot:=drone; robot:=drone_attitude flies it with attitude
setpoints on cmd_vel_legacy (config/drone_attitude.yaml).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource


def generate_launch_description():
    robot_sim = os.path.join(get_package_share_directory("mbrl_ros"), "launch", "robot_sim.launch.py")
    return LaunchDescription([IncludeLaunchDescription(PythonLaunchDescriptionSource(robot_sim),
                                                       launch_arguments={"robot": "drone"}.items())])
