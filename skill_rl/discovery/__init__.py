"""Skill discovery: SLIM (multi-critic PPO by default, and its SAC form) and its baselines (naive sum, LSD, METRA, DIAYN).

Submodules (import them explicitly; this package imports nothing heavy by itself):
``critics`` (batched K-head twin-Q ensemble, separate or shared layout), ``slim`` (``SLIM(SAC)``, multi-reward
buffer, policy), ``ppo`` (``MultiHeadPPO(PPO)``: K value heads, per-head GAE), ``rewards`` (LSD, METRA, DIAYN,
reach, safety terms), ``env`` (skill/reward wrapper), ``metrics`` (coverage, distinctness, safety,
displacement, grasping), ``report`` (plots, skill video grid), ``train`` (``run_discovery``; re-exports the
run's parts: ``config`` ``DiscoveryConfig``, ``factory`` env and model, ``checkpoints``, ``rollouts``
evaluation rollouts, ``evaluation`` ``evaluate_run``), ``export`` (skills into the skill library). See docs/slim.md.
"""
