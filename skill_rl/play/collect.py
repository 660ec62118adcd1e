"""Collect play data: the scripted player in the play scene for N hours of simulated time, to HDF5.

``skill-rl play collect --hours-of-play N`` is a thin wrapper around :func:`collect_play`. N hours at the
env's control rate (20 Hz) is ``round(N * 3600 * 20)`` steps (0.01 h = 720 steps), cut into episodes of
``episode_steps`` (the last one may be shorter; each starts from a fresh random scene, seed ``seed + i``). An
episode ends early when an object falls off the table (the scene has no floor) and the next one fills the budget.

The run folder (``<run_root>/<run_name>-<timestamp>/``) gets ``config.yaml``, ``play.hdf5`` (robomimic
layout, see :mod:`skill_rl.play.dataset`) and ``summary.json``: steps, episodes, steps/s, primitive counts
and timeouts, per-object displacement statistics (metres) and the drawer's opening range.

Each step's ``states`` row is the env's ``sim_state()`` (exact replay, also by robomimic's ``playback_dataset``);
``next_obs`` holds the observation after each action, the last one the observation after the episode's last action.

Labels are DART-style by default (``record: intended``): the player's motion noise is executed but not recorded,
so the ``actions`` are the primitive's own, and the noisy states they are recorded in show how to recover. The
executed actions are kept as ``executed_actions`` (replay from actions needs them; replay from ``states`` is
exact either way). The summary gives each primitive's ``segment_success`` (the segments that did what they were
drawn for, :meth:`~skill_rl.play.player.Player.segment_succeeded`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skill_rl.errors import UserError
from skill_rl.runs import start_run

from .dataset import PlayDatasetWriter, layout_to_json, robomimic_env_args
from .player import BEHAVIOURS, Player, PlayerConfig

__all__ = ["PlayCollectConfig", "PlayCollectError", "collect_play"]

ENV_ID = "skill_rl/TabletopPlay-v0"
FALLEN_Z_M = -0.05  # an object this far below the table top has fallen off it


@dataclass
class PlayCollectConfig:
    """Settings of ``skill-rl play collect`` (``configs/play_collect.yaml`` writes these defaults out)."""

    hours_of_play: float = 0.1  # simulated time; steps = hours * 3600 * control_freq (20 Hz)
    # steps per episode (10 s at 20 Hz); a fresh random scene each episode. Short episodes put the reset pose
    # (where the named evaluation tasks start) into the play data often enough (360 resets per hour).
    episode_steps: int = 200
    seed: int = 0  # episode i resets with seed + i; the player's rng is seeded with seed too
    action_noise: float = 0.1  # std of Gaussian noise on the player's motion commands
    # which action is the label: "intended" (DART: the noise is only executed, the label is the primitive's own
    # action, so the data shows recoveries labelled with the correction) or "executed" (the noisy action itself)
    record: str = "intended"
    # primitive -> weight, replacing the defaults (unnamed primitives get 0); {} = the player's defaults
    weights: dict[str, float] = field(default_factory=dict)
    env_options: dict[str, Any] = field(default_factory=dict)  # passed to the env (TabletopConfig fields)
    output: str = "play.hdf5"  # file name inside the run folder
    compression: str | None = "gzip"  # "gzip", "lzf" or null
    run_root: str = "runs"
    run_name: str = "play"
    debug: bool = False  # tiny mode: 200 steps in 2 episodes

    def __post_init__(self) -> None:
        if not self.hours_of_play > 0:
            raise ValueError(f"hours_of_play must be > 0, got {self.hours_of_play}")
        if self.episode_steps < 2:
            raise ValueError(f"episode_steps must be >= 2, got {self.episode_steps}")
        if self.record not in ("intended", "executed"):
            raise ValueError(f"record must be 'intended' or 'executed', got {self.record!r}")
        if self.compression not in (None, "gzip", "lzf"):
            raise ValueError(f"compression must be 'gzip', 'lzf' or null, got {self.compression!r}")


class PlayCollectError(UserError, ValueError):
    """Play collection cannot start with this config."""


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "max": 0.0, "min": 0.0}
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "max": float(a.max()), "min": float(a.min())}


def collect_play(cfg: PlayCollectConfig, *, progress: bool = True) -> dict[str, Any]:
    """Collect play data as ``cfg`` says; return the summary (also written to ``<run>/summary.json``)."""
    from tqdm.auto import tqdm

    from skill_rl import envs
    from skill_rl.envs.tabletop import TabletopConfig
    from skill_rl.envs.tabletop.play import FREE_OBJECTS

    if cfg.debug:
        cfg = dataclasses.replace(cfg, hours_of_play=200 / (3600 * 20), episode_steps=100)
    try:
        player_cfg = PlayerConfig(weights=dict(cfg.weights) or None, action_noise=cfg.action_noise)
    except ValueError as exc:
        raise PlayCollectError(f"play config: {exc}") from None
    try:
        # Through TabletopConfig: gymnasium.make would take max_episode_steps for its own TimeLimit wrapper.
        env_config = TabletopConfig(**{**cfg.env_options, "max_episode_steps": cfg.episode_steps})
        env = envs.make(ENV_ID, config=env_config)
    except (TypeError, ValueError) as exc:
        raise PlayCollectError(f"cannot make {ENV_ID} with env_options={cfg.env_options}: {exc}") from None
    base = env.unwrapped
    control_freq = base.config.control_freq
    total_steps = max(1, int(round(cfg.hours_of_play * 3600 * control_freq)))
    n_episodes = 0
    rng = np.random.default_rng(cfg.seed)
    player = Player.for_env(env, rng, player_cfg)
    layout = base.obs_layout
    z_index = {o: layout[f"{o}_pos"].start + 2 for o in FREE_OBJECTS}
    state_dim = base.state_layout["elapsed_steps"][1]
    env_args = {
        # env_name, type, env_kwargs (TabletopConfig fields, the constructor kwargs of TabletopPlayEnv): robomimic's
        # create_env_from_metadata recreates the env from these (skill_rl.play.robomimic_env)
        **robomimic_env_args(ENV_ID, cfg.env_options),
        "env_id": ENV_ID, "max_episode_steps": cfg.episode_steps,
        "obs_layout": layout_to_json(layout), "control_freq": control_freq, "state_layout": base.state_layout,
    }
    counts = {p: 0 for p in BEHAVIOURS}
    timeouts = {p: 0 for p in BEHAVIOURS}
    seg_ok = {p: 0 for p in BEHAVIOURS}
    seg_ended = {p: 0 for p in BEHAVIOURS}
    displacement: dict[str, list[float]] = {o: [] for o in FREE_OBJECTS}
    path_length: dict[str, list[float]] = {o: [] for o in FREE_OBJECTS}
    fallen: dict[str, int] = {o: 0 for o in FREE_OBJECTS}
    drawer_min, drawer_max = math.inf, -math.inf
    drawer_travel = 0.0
    t0 = time.perf_counter()
    steps_done = 0
    with start_run(cfg.run_root, cfg.run_name, cfg, tensorboard=False) as run:
        out_path = run.path / cfg.output
        bar = tqdm(total=total_steps, desc="play", unit="step", disable=not progress, leave=True)
        try:
            with PlayDatasetWriter(out_path, env_args, compression=cfg.compression,
                                   compression_opts=4 if cfg.compression == "gzip" else None) as writer:
                ep = 0
                while steps_done < total_steps:
                    if ep > 10 * math.ceil(total_steps / cfg.episode_steps) + 10:
                        raise PlayCollectError(f"objects fell off the table in nearly every episode ({ep} episodes "
                                               f"for {steps_done} of {total_steps} steps); check env_options")
                    length = min(cfg.episode_steps, total_steps - steps_done)
                    seed = cfg.seed + ep
                    ep += 1
                    obs, _ = env.reset(seed=seed)
                    player.reset()
                    obs_buf = np.empty((length, base.obs_dim), np.float32)
                    act_buf = np.empty((length, env.action_space.shape[0]), np.float32)
                    exec_buf = np.empty_like(act_buf)
                    state_buf = np.empty((length, state_dim), np.float64)
                    dropped = None
                    for t in range(length):
                        # The scene has no floor: an object pushed off the table falls for ever (hundreds of
                        # metres), which would wreck the observation statistics. The episode ends there.
                        dropped = next((o for o in FREE_OBJECTS if obs[z_index[o]] < FALLEN_Z_M), None)
                        if dropped is not None:
                            length = t
                            break
                        obs_buf[t] = obs
                        state_buf[t] = base.sim_state()
                        action = player.act(obs)
                        exec_buf[t] = action
                        act_buf[t] = player.intended if cfg.record == "intended" else action
                        obs, _, _, _, _ = env.step(action)
                    if dropped is not None:
                        fallen[dropped] += 1
                    if length < 2:
                        continue
                    obs_buf, act_buf, state_buf = obs_buf[:length], act_buf[:length], state_buf[:length]
                    # labels that are not what ran: the executed actions replay the episode (robomimic's
                    # playback from actions needs them, as for the lifelong DART demos)
                    extra = ({"executed_actions": exec_buf[:length]}
                             if cfg.record == "intended" and cfg.action_noise > 0 else None)
                    # obs is the observation after the last recorded action (the one that ended the episode early,
                    # or the one after its last step)
                    writer.add_episode(obs_buf, act_buf, states=state_buf, final_obs=obs, extra=extra,
                                       attrs={"seed": seed, "primitives": player.log})
                    n_episodes += 1
                    for k in BEHAVIOURS:
                        counts[k] += player.counts[k]
                        timeouts[k] += player.timeouts[k]
                        seg_ok[k] += player.successes[k]
                        seg_ended[k] += player.ended[k]
                    for o in FREE_OBJECTS:
                        pos = obs_buf[:, layout[f"{o}_pos"]].astype(np.float64)
                        displacement[o].append(float(np.linalg.norm(pos[-1] - pos[0])))
                        path_length[o].append(float(np.linalg.norm(np.diff(pos, axis=0), axis=1).sum()))
                    opening = obs_buf[:, layout["cabinet_opening"]][:, 0].astype(np.float64)
                    drawer_min, drawer_max = min(drawer_min, opening.min()), max(drawer_max, opening.max())
                    drawer_travel += float(np.abs(np.diff(opening)).sum())
                    steps_done += length
                    bar.update(length)
        finally:
            bar.close()
            env.close()
        elapsed = time.perf_counter() - t0
        summary = {
            "run_dir": str(run.path),
            "dataset": str(out_path),
            "env_id": ENV_ID,
            "hours_of_play": steps_done / control_freq / 3600,
            "steps": steps_done,
            "episodes": n_episodes,
            "episode_steps": cfg.episode_steps,
            "record": cfg.record,
            "steps_per_s": steps_done / elapsed if elapsed > 0 else None,
            "elapsed_s": round(elapsed, 2),
            "primitive_counts": counts,
            "primitive_timeouts": timeouts,
            # segments that did what they were drawn for (Player.segment_succeeded) / segments that ended
            "segment_success": {k: seg_ok[k] / seg_ended[k] for k in BEHAVIOURS if seg_ended[k]},
            "segment_success_all": sum(seg_ok.values()) / max(1, sum(seg_ended.values())),
            "object_displacement_m": {o: _stats(v) for o, v in displacement.items()},
            "object_path_length_m": {o: _stats(v) for o, v in path_length.items()},
            "objects_fallen_off_table": fallen,
            "drawer_opening_m": {"min": drawer_min, "max": drawer_max, "total_travel": drawer_travel},
        }
        run.write_summary(summary)
    return summary
