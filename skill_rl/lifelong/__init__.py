"""LIBERO-style lifelong learning on the tabletop: suites, scripted demos, algorithms, FWT/NBT/AUC.

Submodules (import them directly; this package imports nothing heavy):
``metrics`` (Eq. 3, numpy only), ``policies`` and ``algos`` (PyTorch), ``suites`` / ``generate`` (task
suites and the procedural generator), ``demos`` (scripted demonstrations in the play HDF5 format),
``evaluation`` (rollouts, parallel workers), ``protocol`` (``run_lifelong``), ``benchmark``.
"""
