"""ROS 2 launch file for a real arm: arm_hal with the ros2 backend, in front of the arm's driver.

arm_hal subscribes the driver's /joint_states and streams the safety-filtered setpoints as one-point
JointTrajectory messages to the driver's joint_trajectory_controller (topics in launch/real.yaml:
backend_args.*). It republishes the arm's state on /arm_hal/joint_states (the driver owns /joint_states).
It starts UNCONFIGURED (autostart: false); bring it up deliberately:

    ros2 lifecycle set /arm_hal configure && ros2 lifecycle set /arm_hal activate

E-stop: ros2 service call /arm_hal/estop std_srvs/srv/Trigger (then /arm_hal/reset_fault).

    bash scripts/build_ros_interfaces.sh && eval "$(python -m skill_rl.ros.env)"
    ros2 launch launch/real.launch.py [params_file:=...]

Without ROS's launch: python -m skill_rl.ros.up --config launch/real.yaml
"""

import os

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

HERE = os.path.dirname(os.path.abspath(__file__))
REAL_PARAMS = os.path.join(HERE, "real.yaml")


def generate_launch_description():
    params = LaunchConfiguration("params_file")
    return LaunchDescription([
        DeclareLaunchArgument("params_file", default_value=REAL_PARAMS,
                              description="ROS 2 params file with an arm_hal section (backend: ros2)"),
        Node(package="skill_rl", executable="arm_hal", name="arm_hal", parameters=[params], output="screen"),
    ])
