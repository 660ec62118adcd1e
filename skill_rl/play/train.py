"""Train Play-LMP or Play-GCBC on a play dataset: ``skill-rl play train --config configs/lmp.yaml``.

:func:`train_play` reads the robomimic-layout play HDF5 (``dataset`` in the config; in ``debug`` mode with
no dataset it first collects a tiny one with :func:`~skill_rl.play.collect.collect_play`), computes the
observation mean/std (saved inside the policy), samples hindsight-relabelled windows with
:class:`~skill_rl.play.windows.WindowSampler` and trains with Adam.

The run folder (``<run_root>/<run_name>-<timestamp>/``) gets ``config.yaml``, ``metrics.csv`` + ``tb/``
(tags ``train/nll``, ``train/kl``, ``train/total``, ``train/steps_per_s``), ``ckpt/last.pt`` (model and
optimiser, written atomically every ``ckpt_every`` steps and at the end), ``policy.pt`` + ``policy.json``
(the deployable :class:`~skill_rl.play.policy.LatentPlanPolicy`, loadable without this module) and
``summary.json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skill_rl.errors import UserError
from skill_rl.runs import start_run

from .dataset import read_play_dataset
from .windows import WindowSampler, gather_windows

__all__ = ["ALGOS", "PlayEvalConfig", "PlayTrainConfig", "PlayTrainError", "eval_play", "evaluate_reach", "make_model",
           "train_play"]

ALGOS = ("lmp", "gcbc")
# TabletopPlay-v0's object state: what a goal in the play scene is about (see PlayTrainConfig.goal_keys).
PLAY_GOAL_KEYS = ("cube_red_pos", "cube_red_quat", "cube_blue_pos", "cube_blue_quat", "cylinder_pos", "cylinder_quat",
                  "cabinet_opening")
PLAY_IGNORE_KEYS = ("joint_vel",)
REST_ANCHORS = {"cabinet_opening": "cabinet_handle_pos"}  # arm_distances: where the arm meets a goal key


class PlayTrainError(UserError, ValueError):
    """Training cannot start with this config (no dataset, bad algo, windows longer than the episodes...)."""


@dataclass
class PlayTrainConfig:
    """Settings of ``skill-rl play train`` (``configs/lmp.yaml`` / ``configs/gcbc.yaml`` write them out)."""

    algo: str = "lmp"  # lmp | gcbc
    dataset: str = ""  # play HDF5 (robomimic layout); "" only with debug (a tiny one is collected)
    obs_keys: list[str] = field(default_factory=list)  # [] = every obs key in the file's layout order
    window: int = 32  # longest window (steps; 1.6 s at 20 Hz)
    min_window: int = 16  # shortest window; == window for fixed-length windows
    # hindsight goal: "last" frame of the window (the paper), "future" (up to goal_horizon steps after the
    # window; the named tasks' goals lie 40-160 play steps ahead, beyond a 32-step window) or "end" (demos)
    goal: str = "future"
    goal_horizon: int = 150
    # obs keys the goal is made of ([] = the whole observation). Default: the play scene's object poses and the
    # drawer; a dataset without them uses the whole observation. With the robot's state in the goal, policies
    # learn to chase the goal's gripper pose instead of moving the objects.
    goal_keys: list[str] = field(default_factory=lambda: list(PLAY_GOAL_KEYS))
    goal_delta: bool = False  # also feed goal - current on the goal features
    # obs keys the proposal and the policy do not see (zeroed after normalisation). Default: the joint
    # velocities; with them the policies learn to continue their current motion and stall at the resting
    # start (multi-task BC on the tasks' demos, 2 seeds: 10-15% -> 25-33% without them). A dataset without
    # the default's keys ignores nothing.
    ignore_obs_keys: list[str] = field(default_factory=lambda: list(PLAY_IGNORE_KEYS))
    # share of each batch whose windows start in the first start_span steps of an episode (the resting
    # start pose every evaluation begins from; play visits it once per episode)
    start_fraction: float = 0.0
    start_span: int = 20
    latent_dim: int = 16  # z size (lmp only)
    hidden: int = 256  # policy / proposal MLP width
    layers: int = 2  # policy / proposal hidden layers
    rnn_hidden: int = 128  # plan recognition GRU width (per direction)
    head: str = "logistic"  # logistic (discretised mixture of logistics) | gaussian (Gaussian mixture)
    n_mix: int = 5  # mixture components per action dim
    n_bins: int = 256  # logistic head: quantisation bins per action dim
    beta: float = 0.01  # KL weight (lmp only)
    nll_beta: float = 0.5  # β-NLL exponent (Seitzer et al. 2022): 0 = plain NLL (the paper), 1 = weighted like MSE
    lr: float = 3e-4
    batch_size: int = 64
    steps: int = 20000  # gradient steps
    grad_clip: float = 10.0  # max global grad norm; <= 0 disables
    replan_every: int = 20  # deployed policy: re-plan every N steps (20 = 1 s at 20 Hz, the paper's ~1 Hz)
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch CPU threads; 0 = torch's default
    log_every: int = 100
    ckpt_every: int = 5000
    run_root: str = "runs"
    run_name: str = ""  # "" = the algo name
    progress: bool = True
    debug: bool = False  # tiny mode: tiny nets, 50 steps, tiny collected dataset if none given

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        if self.head not in ("logistic", "gaussian"):
            raise ValueError(f"head must be 'logistic' or 'gaussian', got {self.head!r}")
        if not 0.0 <= self.nll_beta <= 1.0:
            raise ValueError(f"nll_beta must be in [0, 1], got {self.nll_beta}")
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if self.algo == "lmp" and self.latent_dim < 1:
            raise ValueError("lmp needs latent_dim >= 1")


def goal_index(data: Any, keys: list[str], dataset: str = "") -> list[int] | None:
    """Indices of the obs ``keys`` in ``data.flat_obs()`` (its obs keys concatenated in order); None for []."""
    if not keys or (tuple(keys) == PLAY_GOAL_KEYS and not any(k in data.obs for k in keys)):
        return None  # the default on a dataset of another scene: the whole observation
    return _feature_index(data, keys, dataset, "goal_keys")


def ignore_index(data: Any, keys: list[str], dataset: str = "") -> list[int]:
    """Indices of the ``ignore_obs_keys`` in ``data.flat_obs()``; keys of the default a dataset lacks are
    skipped (a robomimic file without joint velocities ignores nothing)."""
    if tuple(keys) == PLAY_IGNORE_KEYS:
        keys = [k for k in keys if k in data.obs]
    return _feature_index(data, keys, dataset, "ignore_obs_keys")


def arm_distances(data: Any, keys: list[str], arm_key: str = "eef_pos", dataset: str = "") -> tuple[np.ndarray, list[int]]:
    """The arm's distance to what each goal key describes, for rest goals' ``away`` test
    (:func:`~skill_rl.imitation.data.rest_goal_rows`): (N, len(keys)) metres from ``arm_key`` to each key's
    position (``<x>_quat`` -> ``<x>_pos``, ``cabinet_opening`` -> ``cabinet_handle_pos``), and each goal column's
    key index."""
    anchors = [REST_ANCHORS.get(k, k[:-len("_quat")] + "_pos" if k.endswith("_quat") else k) for k in keys]
    _feature_index(data, [arm_key, *anchors], dataset, "arm distance keys")
    arm = np.asarray(data.obs[arm_key], np.float64)
    bad = [a for a in anchors if data.obs[a].shape[1] != arm.shape[1]]
    if bad:
        raise PlayTrainError(f"{dataset}: {bad} are not {arm.shape[1]}-d positions like {arm_key}: no arm distance")
    dist = np.stack([np.linalg.norm(np.asarray(data.obs[a], np.float64) - arm, axis=1) for a in anchors], axis=1)
    groups = [i for i, k in enumerate(keys) for _ in range(data.obs[k].shape[1])]
    return dist, groups


def _feature_index(data: Any, keys: list[str], dataset: str, what: str) -> list[int]:
    missing = [k for k in keys if k not in data.obs]
    if missing:
        raise PlayTrainError(f"{dataset}: {what} {missing} are not obs keys of the dataset "
                             f"(it has: {', '.join(data.obs_keys)})")
    offsets, start = {}, 0
    for k in data.obs_keys:
        width = data.obs[k].shape[1]
        offsets[k] = range(start, start + width)
        start += width
    return [i for k in keys for i in offsets[k]]


def make_model(cfg: PlayTrainConfig, data: Any, dataset: str = "") -> Any:
    """The untrained Play-LMP / Play-GCBC learner that ``cfg`` describes for ``data`` (a read play dataset):
    sizes, goal and ignored features from the config, dimensions from the data; normaliser not yet set."""
    from .models import ActorConfig, PlayGCBC, PlayLMP

    actor_cfg = ActorConfig(obs_dim=sum(data.obs[k].shape[1] for k in data.obs_keys), act_dim=data.actions.shape[1],
                            latent_dim=cfg.latent_dim if cfg.algo == "lmp" else 0,
                            hidden=cfg.hidden, layers=cfg.layers, head=cfg.head, n_mix=cfg.n_mix, n_bins=cfg.n_bins,
                            goal_index=goal_index(data, cfg.goal_keys, dataset), goal_delta=cfg.goal_delta,
                            ignore_index=ignore_index(data, cfg.ignore_obs_keys, dataset))
    if cfg.algo == "lmp":
        return PlayLMP(actor_cfg, cfg.rnn_hidden, cfg.nll_beta)
    return PlayGCBC(actor_cfg, cfg.nll_beta)


def _debug(cfg: PlayTrainConfig) -> PlayTrainConfig:
    return dataclasses.replace(cfg, window=min(cfg.window, 8), min_window=min(cfg.min_window, 4, cfg.window),
                               latent_dim=min(cfg.latent_dim, 4), hidden=32, layers=2, rnn_hidden=16, n_mix=2,
                               batch_size=min(cfg.batch_size, 16), steps=min(cfg.steps, 50), log_every=10,
                               ckpt_every=25)


def train_play(cfg: PlayTrainConfig) -> dict[str, Any]:
    """Train as ``cfg`` says; return the summary (also written to ``<run>/summary.json``)."""
    import torch

    from skill_rl.imitation.train import FitConfig, NonFiniteLossError, fit

    from .models import PlayBatch
    from .policy import LatentPlanPolicy

    if cfg.debug:
        cfg = _debug(cfg)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    with start_run(cfg.run_root, cfg.run_name or cfg.algo, cfg) as run:
        dataset = cfg.dataset
        if not dataset:
            if not cfg.debug:
                raise PlayTrainError("no dataset: set dataset=<play.hdf5> (collect one with `skill-rl play collect`)"
                                     " or use --debug to collect a tiny one")
            from .collect import PlayCollectConfig, collect_play

            dataset = collect_play(PlayCollectConfig(debug=True, run_root=str(run.path), run_name="play-data"),
                                   progress=False)["dataset"]
        data = read_play_dataset(dataset, cfg.obs_keys or None, load_states=False)
        obs = data.flat_obs()
        actions = data.actions
        try:
            sampler = WindowSampler(data.episode_lengths, cfg.window, goal=cfg.goal, horizon=cfg.goal_horizon,
                                    rng=rng, min_window=cfg.min_window, start_fraction=cfg.start_fraction,
                                    start_span=cfg.start_span)
        except ValueError as exc:
            raise PlayTrainError(f"{dataset}: {exc}") from None
        model = make_model(cfg, data, dataset)
        model.actor.set_normaliser(obs.mean(0), obs.std(0))
        ckpt_path = run.subdir("ckpt") / "last.pt"
        fit_cfg = FitConfig(steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr, schedule="constant",
                            optimizer="adam", grad_clip=cfg.grad_clip, seed=cfg.seed, ckpt_every=cfg.ckpt_every,
                            log_every=cfg.log_every, device=cfg.device)

        def sample(_rng: np.random.Generator, n: int) -> PlayBatch:  # windows come from the sampler's own rng
            wb = gather_windows(obs, actions, sampler.sample(n))
            return PlayBatch.from_numpy(wb.obs, wb.actions, wb.goal, wb.mask, device=cfg.device)

        def log(step: int, means: dict[str, float]) -> None:
            run.metrics.log({f"train/{k}": v for k, v in means.items()}, step)

        try:
            fitted = fit(model, sample, fit_cfg, loss=lambda b: model.loss(b, cfg.beta), ckpt_path=ckpt_path,
                         ckpt_extra={"actor_config": model.actor.cfg.to_dict()}, on_log=log, progress=cfg.progress,
                         desc=f"play-{cfg.algo}")
        except NonFiniteLossError as exc:
            raise PlayTrainError(str(exc)) from None
        elapsed = fitted["elapsed_s"]
        first, last = fitted["first"], fitted["final"]
        policy = LatentPlanPolicy(model.actor, replan_every=cfg.replan_every)
        policy_path = policy.save(run.path / "policy.pt", meta={"algo": cfg.algo, "dataset": str(dataset),
                                                                "obs_keys": data.obs_keys,
                                                                "env_id": data.env_args.get("env_id", "")})
        summary = {
            "run_dir": str(run.path), "algo": cfg.algo, "dataset": str(dataset), "policy": str(policy_path),
            "checkpoint": str(ckpt_path), "steps": cfg.steps, "elapsed_s": round(elapsed, 2),
            "steps_per_s": cfg.steps / elapsed if elapsed > 0 else None,
            "dataset_steps": int(obs.shape[0]), "episodes": len(data.demo_names), "obs_dim": int(obs.shape[1]),
            "act_dim": int(actions.shape[1]), "num_windows": sampler.num_windows,
            "first": first, "final": last,
            "parameters": sum(p.numel() for p in model.actor.parameters()),
        }
        summary["plot"] = _plot_curves(run.path)
        run.write_summary(summary)
    return summary


def _plot_curves(run_dir: Path) -> str | None:
    """``plots/train_curves.png``: train/nll, train/kl and train/total against step (from metrics.csv)."""
    import csv

    rows: dict[str, list[tuple[int, float]]] = {}
    with open(run_dir / "metrics.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["tag"], []).append((int(row["step"]), float(row["value"])))
    tags = [t for t in ("train/nll", "train/kl", "train/total") if t in rows]
    if not tags:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tags), figsize=(4 * len(tags), 3), squeeze=False)
    for ax, tag in zip(axes[0], tags, strict=True):
        steps, values = zip(*rows[tag], strict=True)
        ax.plot(steps, values)
        ax.set_title(tag + (" (nats)" if tag != "train/total" else ""))
        ax.set_xlabel("step")
    fig.tight_layout()
    path = run_dir / "plots" / "train_curves.png"
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A trainer checkpoint (model/optimizer state dicts, step), loaded safely (``weights_only=True``)."""
    from skill_rl.imitation.train import load_checkpoint as core_load

    return core_load(path)


# ------------------------------------------------------------------------------------------------ evaluation
@dataclass
class PlayEvalConfig:
    """Settings of ``skill-rl play eval``: reach end-effector positions taken from play (TabletopPlay-v0).

    Each trial restarts a play episode from its recorded reset seed (so the scene equals the dataset's first
    frame), takes as goal the observation ``offset`` steps later in that episode (``offset`` uniform in
    [min_offset, max_offset]) and runs the policy for ``horizon`` steps; success = the end effector comes
    within ``tol_m`` metres of the goal's end-effector position. A uniform-random policy runs the same trials.
    """

    policy: str = ""  # policy.pt from `skill-rl play train`
    dataset: str = ""  # the play HDF5 the goals come from ("" = the one named in the policy's metadata)
    trials: int = 20
    min_offset: int = 10  # goal: steps after the episode's first frame
    max_offset: int = 40
    horizon: int = 60  # steps per trial (3 s at 20 Hz)
    tol_m: float = 0.03
    deterministic: bool = True
    seed: int = 0
    run_root: str = "runs"
    run_name: str = "play-eval"
    debug: bool = False  # 2 trials of 10 steps


def _episode_seeds(path: str, demo_names: list[str]) -> list[int | None]:
    import h5py

    with h5py.File(path, "r") as f:
        return [int(f["data"][d].attrs["seed"]) if "seed" in f["data"][d].attrs else None for d in demo_names]


def evaluate_reach(policy: Any, dataset: str, *, trials: int = 20, min_offset: int = 10, max_offset: int = 40,
                   horizon: int = 60, tol_m: float = 0.03, seed: int = 0) -> dict[str, Any]:
    """Success rate of ``policy`` (anything with ``reset()`` and ``act(obs, goal) -> action``; None = uniform
    random actions) at reaching end-effector positions from the play file ``dataset`` (see
    :class:`PlayEvalConfig`). Returns ``success_rate``, ``final_distance_m`` (mean), per-trial lists and
    ``start_mismatch`` (largest |obs - dataset obs| at the restarted first frames; ~0 when replay is exact).
    """
    from skill_rl import envs
    from skill_rl.envs.tabletop import TabletopConfig

    data = read_play_dataset(dataset, load_states=False)
    env_id = data.env_args.get("env_id", "")
    layout = data.env_args.get("obs_layout", {})
    if "eef_pos" not in layout or not env_id.startswith("skill_rl/"):
        raise PlayTrainError(f"{dataset}: reach evaluation needs a skill_rl tabletop play file with eef_pos in its "
                             f"obs_layout (env_id={env_id!r})")
    eef = slice(*layout["eef_pos"])
    seeds = _episode_seeds(dataset, data.demo_names)
    usable = [i for i, s in enumerate(seeds) if s is not None and data.episode_lengths[i] > max_offset]
    if not usable:
        raise PlayTrainError(f"{dataset}: no episode has a recorded seed and more than {max_offset} steps")
    kwargs = {**data.env_args.get("env_kwargs", {}), "max_episode_steps": horizon + 1}
    env = envs.make(env_id, config=TabletopConfig(**kwargs))
    obs_all = data.flat_obs()
    rng = np.random.default_rng(seed)
    successes, distances, mismatch = [], [], 0.0
    try:
        for _ in range(trials):
            ep = usable[int(rng.integers(len(usable)))]
            start = int(data.episode_starts[ep])
            goal = obs_all[start + int(rng.integers(min_offset, max_offset + 1))]
            obs, _ = env.reset(seed=seeds[ep])
            mismatch = max(mismatch, float(np.abs(obs - obs_all[start]).max()))
            if policy is not None:
                policy.reset()
            ok, dist = False, float("inf")
            for _ in range(horizon):
                action = (rng.uniform(-1, 1, env.action_space.shape) if policy is None
                          else policy.act(obs.astype(np.float32), goal))
                obs, _, _, _, _ = env.step(np.asarray(action, np.float32))
                dist = float(np.linalg.norm(obs[eef] - goal[eef]))
                if dist < tol_m:
                    ok = True
                    break
            successes.append(ok)
            distances.append(dist)
    finally:
        env.close()
    return {"success_rate": float(np.mean(successes)), "final_distance_m": float(np.mean(distances)),
            "successes": successes, "final_distances_m": distances, "start_mismatch": mismatch}


def eval_play(cfg: PlayEvalConfig) -> dict[str, Any]:
    """Evaluate a saved policy against a random policy on reach-from-play; writes a run with summary.json."""
    from .policy import LatentPlanPolicy

    if cfg.debug:
        cfg = dataclasses.replace(cfg, trials=2, horizon=10, min_offset=min(cfg.min_offset, 5),
                                  max_offset=min(cfg.max_offset, 10))
    if not cfg.policy:
        raise PlayTrainError("no policy: set policy=<run>/policy.pt (from `skill-rl play train`)")
    policy = LatentPlanPolicy.load(cfg.policy, deterministic=cfg.deterministic)
    dataset = cfg.dataset
    if not dataset:
        import json

        sidecar = Path(cfg.policy).with_suffix(".json")
        meta = json.loads(sidecar.read_text()).get("meta", {}) if sidecar.is_file() else {}
        dataset = meta.get("dataset", "")
        if not dataset:
            raise PlayTrainError(f"{cfg.policy}: no dataset recorded with the policy; set dataset=<play.hdf5>")
    kw = dict(trials=cfg.trials, min_offset=cfg.min_offset, max_offset=cfg.max_offset, horizon=cfg.horizon,
              tol_m=cfg.tol_m, seed=cfg.seed)
    with start_run(cfg.run_root, cfg.run_name, cfg, tensorboard=False) as run:
        learned = evaluate_reach(policy, dataset, **kw)
        random = evaluate_reach(None, dataset, **kw)
        summary = {"run_dir": str(run.path), "policy": cfg.policy, "dataset": dataset, "task": "reach_from_play",
                   "success_rate": learned["success_rate"], "random_success_rate": random["success_rate"],
                   "final_distance_m": learned["final_distance_m"],
                   "random_final_distance_m": random["final_distance_m"],
                   "start_mismatch": learned["start_mismatch"], "trials": cfg.trials}
        summary["plot"] = _plot_success(run.path, summary)
        run.write_summary(summary)
    return summary


def _plot_success(run_dir: Path, summary: dict[str, Any]) -> str:
    """``plots/reach_success.png``: success rate of the policy and of the random policy (bar plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.5, 3))
    ax.bar(["policy", "random"], [summary["success_rate"], summary["random_success_rate"]], color=["C0", "C7"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("success rate")
    ax.set_title(f"reach from play ({summary['trials']} trials)")
    fig.tight_layout()
    path = run_dir / "plots" / "reach_success.png"
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
