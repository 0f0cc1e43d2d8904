from glob import glob

from setuptools import find_packages, setup

package_name = "mbrl_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
        ("share/" + package_name + "/urdf", glob("urdf/*.urdf")),
    ],
    # rclpy and the message packages come from the ROS distribution (or, without one, from
    # requirements-ros.txt): listing them here would shadow a workspace's own.
    install_requires=["numpy", "pyyaml", "torch", "pybullet", "rosbags", "matplotlib", "tqdm"],
    zip_safe=True,
    maintainer="mbrl_ros maintainers",
    maintainer_email="maintainers@mbrl-ros.dev",
    description="Model-based reinforcement learning for ROS 2 robots",
    license="Apache-2.0",
    extras_require={"test": ["pytest"], "ray": ["ray[data]"]},  # pinned: requirements-ray.txt
    entry_points={
        "console_scripts": [
            "sim = mbrl_ros.nodes.sim:main",
            "logger = mbrl_ros.nodes.logger:main",
            "trainer = mbrl_ros.nodes.trainer:main",
            "controller = mbrl_ros.nodes.controller:main",
            "policy_trainer = mbrl_ros.nodes.policy_trainer:main",
            "standin = mbrl_ros.nodes.standin:main",
            "mbrl-ros = mbrl_ros.cli:main",
        ],
    },
)
