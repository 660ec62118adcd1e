"""One imitation core: the networks, action heads, history, normalisation and training loop that every
behaviour-cloning learner in skill_rl builds on (lifelong BC, Play-GCBC, Play-LMP, per-task and multi-task BC).

Modules (all import torch; this package file does not):

* :mod:`.nets`: :func:`~.nets.mlp`, :class:`~.nets.Normaliser`, :class:`~.nets.PolicyNet` (MLP trunk + head).
* :mod:`.heads`: action heads (``gaussian``, ``gmm``, ``gaussian_mixture``, ``logistic``) and β-NLL.
* :mod:`.history`: observation-history indices for training and the online buffer for acting.
* :mod:`.latent`: Play-LMP's plan recognition and plan proposal networks.
* :mod:`.lmp`: :class:`~.lmp.PlanLearner`, Play-LMP's loss (recognition + proposal + latent-plan policy).
* :mod:`.policy`: :class:`~.policy.BCPolicy` (history + optional goal + head) and the deployable
  :class:`~.policy.HistoryPolicy` (reset/act, save/load).
* :mod:`.data`: demonstrations in memory (:class:`~.data.DemoSet`), play windows (:class:`~.data.PlanWindows`)
  and typed batches.
* :mod:`.train`: :func:`~.train.fit`, the seeded, resumable training loop with atomic checkpoints.

The recipe that learns (MLP 2 x 256, normalised inputs with a std floor, history 2, Gaussian head, AdamW with
a cosine schedule) is each piece's default; see ``docs/play.md`` ("Imitation ladder").
"""
