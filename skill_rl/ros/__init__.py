"""ROS 2 execution layer: rclpy nodes that run skills on an arm through ``skill_rl.hardware``.

Importing this package, its launcher (``up``), ``env`` or ``testing`` imports no rclpy; the node modules
(``arm_hal``, ``skill_server``, ``task_executor``) define their node classes at module level and import rclpy
(the ``ros`` extra: the pip ROS 2 Kilted wheels). Outside this package only
``skill_rl.hardware.backends.ros2`` imports rclpy (lazily).

The graph (``launch/sim.launch.py``; without ROS's launch: ``skill-rl ros up`` / ``python -m skill_rl.ros.up
--config launch/sim.yaml``)::

    task_executor --ExecuteSkill goal per plan step--> skill_server --/arm_hal/joint_command--> arm_hal
     (RunTask: plans over the        (any library entry:        (JointTrajectory + the      (LifecycleNode:
      library, monitors, replans)     perception -> action       claim token, 20 Hz)          SafetyFilter ->
                                      -> IK, 20 Hz)                                            HAL backend, 100 Hz)
          ^                                ^                                                       |
          +---- /joint_states, /object_states (typed, stamped), /tf, ArmState, /diagnostics -------+

Nodes (``EXECUTABLES`` in ``env``; each ``python -m skill_rl.ros.<node> --ros-args --params-file ...``):

- ``arm_hal`` (``arm_hal.py``): a lifecycle node owning one ``ArmHAL`` backend (fake, mujoco, pybullet,
  ros2); a fixed-rate loop reads, writes the owner's newest command through the SafetyFilter and publishes
  ``/joint_states``, ``/diagnostics``, ``ArmState``, ``/tf`` (and ``/object_states`` from a simulated world);
  ``/robot_description`` and ``/tf_static`` latched; services ``~/estop``, ``~/reset_fault``, ``~/stop``,
  ``~/claim`` (command arbitration), ``~/reset_world``; the ``~/gripper_cmd`` action. A latched FAULT takes
  the lifecycle to inactive.
- ``skill_server`` (``skill_server.py``): the ``execute_skill`` action: runs skill-library entries through
  ``runner.SkillRunner``; invalid goals are rejected in the goal callback with the reason in ``~/status``.
- ``task_executor`` (``task_executor.py``): the ``run_task`` action: ``skill_rl.planning.execute_plan`` over
  ``RosWorld`` (a task), or a checked fixed step list.

Design of the simulated arm ("simulation as fake hardware", kept honest): the arm's world is one MuJoCo
simulation, owned by ``arm_hal``: ``scene.TabletopSceneArm``, the hardware package's ``MujocoArm`` (same
Panda, servos, gripper and SafetyFilter) whose physics is a tabletop task env's (or a task file's scene), so
the objects exist in the arm's world. The physics advances with the wall clock in the HAL loop and moves only
through ``ArmHAL.write``. ``arm_hal`` publishes the objects' poses as ``/object_states``, the stand-in for a
tracker. The skill server holds no physics: it poses a kinematic copy of the task env from ``/joint_states`` +
``/object_states``, reads the observation the skill was trained on from it, and turns the skill's ``ee_delta``
action into a joint target with the env's own IK; the target crosses DDS to ``arm_hal``, where the filter
clamps or rejects it before the servos see it. On a real arm ``arm_hal`` uses the ``ros2`` backend
(``launch/real.launch.py``) and a tracker publishes ``/object_states``.

Other modules (no rclpy): ``env`` (where the interfaces are installed, DDS isolation), ``up`` (the launcher),
``testing`` (probe, fake driver, ``DomainLease``), ``scene``, ``kinematics``, ``runner``, ``description``
(URDF, TF, message builders); ``task_client`` (``skill-rl ros task``).

Interface packages: ``hardware/ros_interfaces/skill_interfaces`` and a vendored ``tf2_msgs``, built by
``scripts/build_ros_interfaces.sh``; ``env.ensure_interfaces()`` makes them importable. DDS: nodes default to
``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (``env.isolate_dds``).
"""

from __future__ import annotations

__all__: list[str] = []
