"""ROS 2 launch file of the simulated graph: arm_hal (MuJoCo tabletop world) + skill_server + task_executor.

On a ROS 2 install (launch and launch_ros available; they are not on PyPI):

    bash scripts/build_ros_interfaces.sh          # skill_interfaces + the skill_rl node executables
    eval "$(python -m skill_rl.ros.env)"          # PYTHONPATH, LD_LIBRARY_PATH, AMENT_PREFIX_PATH
    ros2 launch launch/sim.launch.py [params_file:=/path/to/params.yaml]

Without ROS's launch, the same graph from the same params file:

    python -m skill_rl.ros.up --config launch/sim.yaml

Parameters: launch/sim.yaml (one section per node). The arm_hal node configures and activates itself
(autostart: true). Exit policy, as ``skill-rl ros up`` (docs/execution.md's fault table): arm_hal owns the arm,
so its exit shuts the launch down; the skill server and the task executor respawn, and the HAL keeps holding
the arm meanwhile.
"""

import os

from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable, Shutdown
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

HERE = os.path.dirname(os.path.abspath(__file__))
SIM_PARAMS = os.path.join(HERE, "sim.yaml")


def generate_launch_description():
    params = LaunchConfiguration("params_file")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=SIM_PARAMS,
                              description="ROS 2 params file with arm_hal, skill_server and task_executor sections"),
        # Keep DDS discovery on this machine unless the caller chose a range.
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE",
                               EnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", default_value="LOCALHOST")),
        Node(package="skill_rl", executable="arm_hal", name="arm_hal", parameters=[params], output="screen",
             on_exit=Shutdown()),
        Node(package="skill_rl", executable="skill_server", name="skill_server", parameters=[params], output="screen",
             respawn=True, respawn_delay=2.0),
        Node(package="skill_rl", executable="task_executor", name="task_executor", parameters=[params],
             output="screen", respawn=True, respawn_delay=2.0),
    ])
