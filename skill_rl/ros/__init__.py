"""ROS 2 execution layer: rclpy nodes that run skills on an arm through ``skill_rl.hardware``.

Importing this package, its launcher (``up``), ``env`` or ``testing`` imports no rclpy; the node modules
(``arm_hal``, ``skill_server``, ``task_executor``) define their node classes at module level and import rclpy
(the ``ros`` extra: the pip ROS 2 Kilted wheels). Outside this package only
``skill_rl.hardware.backends.ros2`` imports rclpy (lazily).

The graph (``launch/sim.launch.py``; without ROS's launch: ``python -m skill_rl.ros.up --config
launch/sim.yaml``)::

    task_executor --RunTask/ExecuteSkill goals--> skill_server --/arm_hal/joint_command--> arm_hal
      (sequence)                                   (primitive:       (JointTrajectory,       (LifecycleNode:
                                                    expert + IK,      1 point, 20 Hz)         SafetyFilter ->
                           /scene_state  <--------- 20 Hz) <------------------------------------ HAL backend,
                           (world's obs, JSON)                                                  100 Hz loop)
                                                                   /joint_states, /diagnostics, /arm_hal/state

Nodes (``EXECUTABLES`` in ``env``; each ``python -m skill_rl.ros.<node> --ros-args --params-file ...``):

- ``arm_hal`` (``arm_hal.py``): a lifecycle node owning one ``ArmHAL`` backend (fake, mujoco, pybullet,
  ros2); its transitions are the HAL's; a fixed-rate loop reads, writes the newest command through the
  SafetyFilter and publishes ``/joint_states``, ``/diagnostics`` and a latched ``~/state``; services
  ``~/estop``, ``~/reset_fault``, ``~/stop``. Commands are stamped on receipt with the HAL's clock, so
  the filter's staleness check and watchdog (no fresh command -> brake, hold) protect against a dead or
  slow skill server; NaN -> rejected, FAULT latched.
- ``skill_server`` (``skill_server.py``): the ``execute_skill`` action (``skill_interfaces/ExecuteSkill``):
  one goal at a time, rejected while busy or while the arm is not ACTIVE; runs a primitive
  (``primitives.py``) closed-loop; cancel and timeout stop the arm (decelerate, hold) before answering;
  a HAL fault aborts with FAULT.
- ``task_executor`` (``task_executor.py``): the ``run_task`` action (``skill_interfaces/RunTask``): a list
  of ``{skill, params, timeout}`` as ExecuteSkill calls, stopping at the first failure with its code.

Design of the simulated arm ("simulation as fake hardware", kept honest): the arm's world is one
MuJoCo simulation, owned by ``arm_hal``. Its backend is ``scene.TabletopSceneArm``, the hardware
package's ``MujocoArm`` (same Panda, servos, gripper and SafetyFilter) whose physics is a tabletop task
env's, so the cube and the target region exist in the arm's world. The physics advances with the wall
clock in the HAL loop and moves only through ``ArmHAL.write``. ``arm_hal`` publishes the world's state as
``/scene_state`` (the task env's observation vector + layout, object poses, the simulation's own success
predicate), the stand-in for a perception stream. The skill server holds no physics: it reads
``/scene_state``, runs the scripted expert on it, turns the expert's ``ee_delta`` action into a joint
position target with the env's own IK on a kinematic copy of the model (posed at the measured joints,
never stepped), and sends that target over DDS to ``arm_hal``, where the SafetyFilter clamps/rejects it
before the servos see it. So the goal, every command and every observation cross DDS, the filter is on
the only path to the physics, and "the cube is in the region" is read back from the physics' owner. On a
real arm the same skill server needs a perception node publishing ``/scene_state``; ``arm_hal`` then uses
the ``ros2`` backend (``launch/real.launch.py``) in front of the arm's joint trajectory controller.

Other modules: ``env`` (where ``skill_interfaces`` is installed, DDS isolation, child-process
environment; no rclpy), ``up`` (the pure-Python launcher), ``testing`` (probe and fake driver for tests),
``scene`` / ``primitives`` (no rclpy).

Interface package: ``hardware/ros_interfaces/skill_interfaces`` (actions ExecuteSkill, RunTask), built
by ``scripts/build_ros_interfaces.sh`` into ``build/ros_install``; ``env.ensure_interfaces()`` makes it
importable. DDS: nodes default to ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (``env.isolate_dds``).
"""

from __future__ import annotations

__all__: list[str] = []
