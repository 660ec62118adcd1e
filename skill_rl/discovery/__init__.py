"""Skill discovery: SLIM (multi-critic SAC) and its baselines (naive sum, LSD, DIAYN).

Submodules (import them explicitly; this package imports nothing heavy by itself):
``critics`` (batched K-head twin-Q ensemble), ``slim`` (``SLIM(SAC)``, multi-reward buffer, policy),
``rewards`` (LSD, DIAYN, reach, safety terms), ``env`` (skill/reward wrapper), ``metrics`` (coverage,
distinctness, safety, displacement, grasping), ``train`` (``DiscoveryConfig``, ``run_discovery``).
"""
