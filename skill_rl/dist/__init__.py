"""Scale out on Ray (extra ``dist``): sweeps over config keys x seeds, parallel evaluation workers.

* :mod:`skill_rl.dist.sweep`: ``skill-rl sweep`` on Ray Tune; each trial is an ordinary run folder, results
  aggregate into one table and plot; a killed trial restarts (Tune's ``FailureConfig``) and resumes from its
  run's own atomic checkpoints.
* :mod:`skill_rl.dist.evaluation`: SLIM skill evaluation on Ray actors, same results as the serial path.
* :mod:`skill_rl.dist.pool`: starting/joining Ray and a pool of actors (a leaf: no learning code), which
  :mod:`skill_rl.lifelong.evaluation` uses for its ``eval_backend=ray`` path.

Nothing here is imported by ``import skill_rl`` and Ray itself is imported lazily, inside functions.
"""

__all__: list[str] = []
