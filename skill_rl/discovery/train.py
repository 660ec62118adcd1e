"""``run_discovery(cfg)``: train SLIM or a baseline on a tabletop env, in its own run folder.

The run folder (``<run_root>/<run_name>-<timestamp>/``) holds ``config.yaml``, ``metrics.csv`` + ``tb/``
(each reward term's episode return, training losses, evaluation metrics), ``ckpt/step_<n>.zip`` (SB3
checkpoints, written to a temporary file and renamed, with the replay buffer beside them as
``step_<n>.buffer.pkl``; the last ``keep_checkpoints`` are kept), ``skill_policy.pt`` (the actor alone, see
:mod:`skill_rl.discovery.policy`) and ``summary.json``.

Algorithms (one code path per base, chosen by ``algo``; ``base`` picks the actor-critic underneath; both
registered in :mod:`skill_rl.discovery.algorithms`):

* ``slim``: one critic per term of ``terms`` (default discovery, reach, safety), actor weights ``weights``.
* ``naive_sum``: the same terms summed with ``weights`` into ONE critic.
* ``lsd`` / ``metra`` / ``diayn``: the discovery term alone (LSD, METRA or DIAYN), one critic.

``base: ppo`` (default, SLIM's on-policy form): :class:`~skill_rl.discovery.ppo.MultiHeadPPO`, one value head
per critic, per-head GAE, per-head advantage standardisation, weighted sum in PPO's surrogate.
``base: sac``: :class:`~skill_rl.discovery.slim.SLIM`, one twin-Q critic per head, normalised weighted actor
loss. ``algo: slim_ppo`` (older configs and run folders) is read as ``algo: slim, base: ppo``.

Resume: ``resume=<run folder>`` continues that run from its latest checkpoint (or ``resume=<ckpt .zip>``
from that one) up to ``total_steps``. A checkpoint that cannot be read raises :class:`CheckpointError`
naming the file; older checkpoints are never overwritten by a newer one, so the previous one stays usable.

This module is the training loop; the rest of a run lives beside it and is re-exported here: :mod:`.config`
(``DiscoveryConfig``), :mod:`.factory` (env and model), :mod:`.checkpoints`, :mod:`.rollouts` (evaluation
rollouts and metrics), :mod:`.report` (plots, video) and :mod:`.evaluation` (``evaluate_run``).
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from skill_rl.runs import RunDir, start_run

from .algorithms import ALGORITHMS, BASES
from .checkpoints import (
    CKPT_RE,
    CheckpointError,
    checkpoint_base,
    find_checkpoints,
    load_checkpoint,
    resume_target,
    save_checkpoint,
)
from .config import DiscoveryConfig, DiscoveryError, check_config, debug_config, torch_threads_of
from .evaluation import evaluate_run
from .factory import build_model, make_env, make_train_env, terms_for
from .report import write_report
from .rollouts import assemble_rollouts, eval_skills_list, evaluate_skills, rollout_episode, rollout_skills

__all__ = ["ALGORITHMS", "BASES", "CKPT_RE", "CheckpointError", "DiscoveryConfig", "DiscoveryError", "assemble_rollouts",
           "build_model", "checkpoint_base", "eval_skills_list", "evaluate_run", "evaluate_skills", "find_checkpoints",
           "load_checkpoint", "make_env", "make_train_env", "rollout_episode", "rollout_skills", "run_discovery", "save_checkpoint",
           "terms_for", "write_report"]


# ------------------------------------------------------------------------------------- training
def _callback(run: RunDir, cfg: DiscoveryConfig, bar: Any, recent: dict[str, deque]):
    from stable_baselines3.common.callbacks import BaseCallback

    class DiscoveryCallback(BaseCallback):
        """Progress bar (with env steps/s), per-term episode returns, training stats, periodic checkpoints.

        Checkpoints are written at the start of a rollout: by then the previous step's transition is in
        the buffer and its gradient steps are done, so a checkpoint is a consistent state to resume from.
        """

        last_saved = -1
        last_logged = -1

        def _init_callback(self) -> None:
            self.episodes = {}
            self.t_start, self.n_start = time.perf_counter(), self.num_timesteps

        def _on_rollout_start(self) -> None:
            n = self.num_timesteps
            if self.last_saved < 0:
                self.last_saved = n
            elif n - self.last_saved >= cfg.checkpoint_every:
                save_checkpoint(self.model, run.subdir("ckpt"), cfg.keep_checkpoints, cfg.save_replay_buffer)
                self.last_saved = n

        def _on_rollout_end(self) -> None:
            rate = (self.num_timesteps - self.n_start) / max(time.perf_counter() - self.t_start, 1e-9)
            bar.set_postfix_str(f"{rate:.0f} env steps/s", refresh=False)
            run.metrics.log({"time/env_steps_per_s": rate}, step=self.num_timesteps)

        episodes: dict[int, list[tuple[np.ndarray, np.ndarray]]]

        def _intrinsic_returns(self, finished: list[int]) -> dict[int, dict[str, float]]:
            """Each intrinsic term's return over the finished episodes of these envs, with the current networks
            (one batched evaluation for all of them)."""
            pairs = {i: self.episodes.pop(i, []) for i in finished}
            if not self.model.intrinsic or not any(pairs.values()):
                return {i: {} for i in finished}
            import torch as th

            order = [i for i in finished if pairs[i]]
            obs = np.stack([p[0] for i in order for p in pairs[i]])
            nxt = np.stack([p[1] for i in order for p in pairs[i]])
            obs_t = th.as_tensor(obs, dtype=th.float32, device=self.model.device)
            nxt_t = th.as_tensor(nxt, dtype=th.float32, device=self.model.device)
            cuts = np.cumsum([len(pairs[i]) for i in order])[:-1]
            out: dict[int, dict[str, float]] = {i: {} for i in finished}
            for name, m in self.model.intrinsic.items():
                r = m.relabel(obs_t, nxt_t).double().cpu().numpy()
                for i, part in zip(order, np.split(r, cuts), strict=True):
                    out[i][name] = float(part.sum())
            return out

        def _on_step(self) -> bool:
            n = self.num_timesteps
            bar.update(n - bar.n)
            prev = self.model._last_obs  # the observation before this step (updated after the callback)
            new_obs, dones = self.locals.get("new_obs"), self.locals.get("dones")
            infos = self.locals.get("infos", ())
            finished = []
            for i, info in enumerate(infos):
                if prev is not None and new_obs is not None:
                    nxt = info.get("terminal_observation", new_obs[i]) if dones[i] else new_obs[i]
                    self.episodes.setdefault(i, []).append((prev[i], nxt))  # fresh arrays every step: no copies
                if info.get("episode_reward_terms") is not None:
                    finished.append(i)
            intrinsic = self._intrinsic_returns(finished) if finished else {}
            for i in finished:
                info = infos[i]
                terms = {**intrinsic[i], **info["episode_reward_terms"]}
                row = {f"episode/{t}_return": v for t, v in terms.items()}
                if "episode" in info:
                    row["episode/length"] = info["episode"]["l"]
                row["episode/success"] = float(info.get("is_success", False))
                run.metrics.log(row, step=n)
                for t, v in terms.items():
                    recent.setdefault(t, deque(maxlen=20)).append(v)
            if n // cfg.log_every > self.last_logged // cfg.log_every and self.model.last_train_stats:
                run.metrics.log(self.model.last_train_stats, step=n)
                self.last_logged = n
            return True

    return DiscoveryCallback()


def run_discovery(cfg: DiscoveryConfig, *, progress: bool = True, stop_after: int | None = None) -> dict[str, Any]:
    """Train, checkpoint, evaluate and summarise; return the summary (also ``<run>/summary.json``).

    ``stop_after``: stop once this many env steps have been taken in total, as a kill would (the run is
    then ``completed: false``; resume it with ``resume=<run folder>``). Summary keys: ``run_dir``, ``algo``,
    ``terms``, ``num_timesteps``, ``completed``, ``checkpoint``, ``skill_policy``, ``eval`` (metrics),
    ``episode_returns`` (mean of the last 20 episodes per term; intrinsic terms with the networks of the time), ``elapsed_s``.
    """
    import torch as th
    from tqdm.auto import tqdm

    from .policy import SkillPolicy

    if cfg.debug:
        cfg = debug_config(cfg)
    check_config(cfg)
    th.set_num_threads(torch_threads_of(cfg))
    t0 = time.perf_counter()
    if cfg.resume:
        run_path, ckpt = resume_target(cfg.resume)
        cfg = dataclasses.replace(cfg, base=checkpoint_base(ckpt))  # the checkpoint says what it is
        check_config(cfg)
    env = make_env(cfg)  # evaluation, plots and the exported policy's layout
    train_env = make_train_env(cfg)
    if cfg.resume:
        model = load_checkpoint(ckpt, env=train_env, device=cfg.device, replay_buffer=cfg.save_replay_buffer,
                                base=cfg.base)
        terms = terms_for(cfg)
        if list(model.term_names) != terms or model.n_heads != ALGORITHMS.get(cfg.algo).n_heads(terms):
            raise DiscoveryError(f"checkpoint {ckpt} was trained with terms {model.term_names} and {model.n_heads} "
                                 f"critic(s), but this config asks for algo {cfg.algo!r} with terms {terms}; "
                                 f"resume with the run's own config ({Path(ckpt).parent.parent / 'config.yaml'})")
        run = RunDir(run_path)
        if model.env is not None:  # a resumed run starts new episodes: seeded, so a resume is reproducible
            model.env.seed(cfg.seed + int(model.num_timesteps))
    else:
        th.manual_seed(cfg.seed)
        model = build_model(cfg, train_env)
        run = start_run(cfg.run_root, cfg.run_name, cfg)
    recent: dict[str, deque] = {}
    completed = False
    with run:
        run.metrics  # noqa: B018 - create metrics.csv now
        bar = tqdm(total=cfg.total_steps, initial=model.num_timesteps, desc=f"discover[{cfg.algo}/{cfg.base}]", unit="step",
                   disable=not progress)
        try:
            end = cfg.total_steps if stop_after is None else min(cfg.total_steps, stop_after)
            if end > model.num_timesteps:
                model.learn(total_timesteps=end - model.num_timesteps, callback=_callback(run, cfg, bar, recent),
                            reset_num_timesteps=False, log_interval=None)
        finally:
            bar.close()
        completed = model.num_timesteps >= cfg.total_steps
        ckpts = find_checkpoints(run.path / "ckpt")
        if not ckpts or not ckpts[-1].name.startswith(f"step_{model.num_timesteps:09d}"):
            ckpts.append(save_checkpoint(model, run.subdir("ckpt"), cfg.keep_checkpoints, cfg.save_replay_buffer))
        policy = SkillPolicy.from_model(model, cfg.n_skills, cfg.discrete_skills, env.obs_layout,
                                        env_id=cfg.env_id, algo=cfg.algo, base=cfg.base)
        policy_path = policy.save(run.path / "skill_policy.pt")
        metrics: dict[str, float] = {}
        report: dict[str, Any] = {}
        if completed:
            from .metrics import per_skill_summary

            rollouts = rollout_skills(policy, env, cfg)
            metrics = evaluate_skills(policy, env, cfg, rollouts=rollouts)
            if rollouts:
                report["per_skill"] = per_skill_summary(rollouts["initial_xy"], rollouts["final_xy"],
                                                        rollouts["skill_ids"], rollouts["grasped"],
                                                        rollouts["episode_violations"])
            run.metrics.log({f"eval/{k}": v for k, v in metrics.items()}, step=model.num_timesteps)
            run.metrics.flush()
            report.update(write_report(run.path, policy, env, cfg, rollouts))
        summary = {
            "run_dir": str(run.path), "algo": cfg.algo, "base": cfg.base, "terms": list(model.term_names),
            "num_timesteps": int(model.num_timesteps), "completed": completed, "checkpoint": str(ckpts[-1]),
            "skill_policy": str(policy_path), "eval": metrics, **report,
            "episode_returns": {t: float(np.mean(v)) for t, v in recent.items()},
            "elapsed_s": round(time.perf_counter() - t0, 2), "n_envs": int(getattr(train_env, "num_envs", 1)),
        }
        run.write_summary(summary)
    env.close()
    train_env.close()
    return summary

