"""``run_discovery(cfg)``: train SLIM or a baseline on a tabletop env, in its own run folder.

The run folder (``<run_root>/<run_name>-<timestamp>/``) holds ``config.yaml``, ``metrics.csv`` + ``tb/``
(each reward term's episode return, training losses, evaluation metrics), ``ckpt/step_<n>.zip`` (SB3
checkpoints, written to a temporary file and renamed, with the replay buffer beside them as
``step_<n>.buffer.pkl``; the last ``keep_checkpoints`` are kept), ``skill_policy.pt`` (the actor alone, see
:mod:`skill_rl.discovery.policy`) and ``summary.json``.

Algorithms (one code path per base, chosen by ``algo``; ``base`` picks the actor-critic underneath):

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
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from skill_rl.errors import UserError
from skill_rl.fileio import atomic_path
from skill_rl.runs import RunDir, start_run

__all__ = ["ALGOS", "CheckpointError", "DiscoveryConfig", "DiscoveryError", "build_model", "evaluate_skills",
           "evaluate_run", "rollout_skills", "write_report",
           "checkpoint_base", "find_checkpoints", "load_checkpoint", "run_discovery"]

log = logging.getLogger(__name__)
ALGOS = ("slim", "naive_sum", "lsd", "metra", "diayn")
BASES = ("ppo", "sac")
CKPT_RE = re.compile(r"^step_(\d+)\.zip$")


class DiscoveryError(UserError, ValueError):
    """The discovery config cannot be run (unknown term, bad sizes)."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint is missing, corrupted or unreadable; the message names the file."""


@dataclass
class DiscoveryConfig:
    """Settings of ``skill-rl discover`` (``configs/slim_push.yaml`` and ``configs/discovery_*.yaml``)."""

    algo: Literal["slim", "slim_ppo", "naive_sum", "lsd", "metra", "diayn"] = "slim"  # slim_ppo: legacy alias
    base: Literal["ppo", "sac"] = "ppo"  # the actor-critic underneath: PPO value heads or SAC twin-Q critics
    env_id: str = "TabletopPush-v0"
    env_options: dict[str, Any] = field(default_factory=dict)  # tabletop options, e.g. {max_episode_steps: 100}
    # skills
    n_skills: int = 4  # discrete: number of skills; continuous: dimension of z
    discrete_skills: bool = True
    discovery: Literal["lsd", "metra", "diayn"] = "lsd"  # the MI term used by slim / naive_sum
    discovery_keys: list[str] | None = None  # obs_layout fields the MI term sees; null: object positions
    # reward terms (slim / naive_sum); lsd / diayn use the discovery term alone
    terms: list[str] = field(default_factory=lambda: ["discovery", "reach", "safety"])
    weights: dict[str, float] = field(default_factory=lambda: {"discovery": 1.0, "reach": 1.0, "safety": 1.0})
    normalize: Literal["ema_std", "batch_std", "none"] = "ema_std"
    entropy_heads: Literal["first", "all", "none"] = "first"
    critic_layout: Literal["separate", "shared"] = "separate"  # shared: twin nets with one output per term
    reach_contact_bonus: float = 0.0
    # both bases
    total_steps: int = 200_000
    learning_starts: int = 5_000  # SAC only (and buffer_size, tau, train_freq, gradient_steps, ent_coef)
    batch_size: int = 256
    buffer_size: int = 1_000_000
    learning_rate: float = 3e-4
    gamma: float = 0.99
    tau: float = 0.005
    train_freq: int = 1
    gradient_steps: int = 1
    ent_coef: str | float = "auto"
    net_arch: list[int] = field(default_factory=lambda: [256, 256])
    phi_hidden: list[int] = field(default_factory=lambda: [256, 256])
    phi_lr: float = 1e-4
    # PPO (base ppo): rollout length, epochs per rollout (minibatch = batch_size), GAE λ
    n_steps: int = 2048
    n_epochs: int = 10
    gae_lambda: float = 0.95
    device: str = "cpu"
    # run
    checkpoint_every: int = 10_000  # env steps
    keep_checkpoints: int = 3
    save_replay_buffer: bool = True
    eval_episodes_per_skill: int = 3  # continuous skills: 2 * n_skills random z, this many each
    video: bool = True  # videos/skills.mp4: one episode per skill, tiled (needs MUJOCO_GL=osmesa or egl)
    log_every: int = 1_000  # env steps between training-loss rows
    seed: int = 0
    run_root: str = "runs"
    run_name: str = "discovery"
    resume: str | None = None  # a run folder (latest checkpoint) or a checkpoint .zip
    debug: bool = False  # tiny: 300 steps, small nets, 50-step episodes

    def __post_init__(self) -> None:
        if self.algo == "slim_ppo":  # the name before ``base`` existed; run folders still carry it
            self.algo, self.base = "slim", "ppo"


def _debug(cfg: DiscoveryConfig) -> DiscoveryConfig:
    return dataclasses.replace(
        cfg, total_steps=min(cfg.total_steps, 300), learning_starts=min(cfg.learning_starts, 100),
        batch_size=min(cfg.batch_size, 50 if cfg.base == "ppo" else 32), buffer_size=min(cfg.buffer_size, 10_000), net_arch=[32, 32],
        phi_hidden=[32, 32], checkpoint_every=min(cfg.checkpoint_every, 100), eval_episodes_per_skill=2,
        log_every=min(cfg.log_every, 100), n_skills=min(cfg.n_skills, 2), n_steps=min(cfg.n_steps, 100),
        n_epochs=min(cfg.n_epochs, 2),
        env_options={**cfg.env_options, "max_episode_steps": min(cfg.env_options.get("max_episode_steps", 50), 50)},
    )


def _check(cfg: DiscoveryConfig) -> None:
    if cfg.base not in BASES:
        raise DiscoveryError(f"unknown base {cfg.base!r}; valid: {', '.join(BASES)}")
    if cfg.algo in ("slim", "naive_sum"):
        if "discovery" not in cfg.terms:
            raise DiscoveryError(f"terms must include 'discovery' for algo {cfg.algo!r}, got {cfg.terms}")
        unknown = [t for t in cfg.terms if t not in ("discovery", "reach", "safety")]
        if unknown:
            raise DiscoveryError(f"unknown reward terms {unknown}; valid: discovery, reach, safety")
        if len(set(cfg.terms)) != len(cfg.terms):
            raise DiscoveryError(f"terms lists a term twice: {cfg.terms}")
    bad_weights = sorted(k for k in cfg.weights if k not in ("discovery", "reach", "safety"))
    if bad_weights:  # a typo (weights.rech) would otherwise be ignored silently
        raise DiscoveryError(f"unknown reward term(s) in weights: {bad_weights}; valid: discovery, reach, safety")
    for k, v in cfg.weights.items():
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v):
            raise DiscoveryError(f"weights.{k} must be a finite number, got {v!r}")
    for name, v in (("total_steps", cfg.total_steps), ("n_skills", cfg.n_skills), ("batch_size", cfg.batch_size),
                    ("checkpoint_every", cfg.checkpoint_every), ("keep_checkpoints", cfg.keep_checkpoints)):
        if v < 1:
            raise DiscoveryError(f"{name} must be >= 1, got {v}")


def terms_for(cfg: DiscoveryConfig) -> list[str]:
    # discovery first: SLIM's "first" entropy head is the discovery critic
    terms = ["discovery"] if cfg.algo in ("lsd", "metra", "diayn") else list(cfg.terms)
    return ["discovery"] + [t for t in terms if t != "discovery"]


def make_env(cfg: DiscoveryConfig):
    from .env import make_discovery_env

    terms = terms_for(cfg)
    try:
        return make_discovery_env(cfg.env_id, cfg.n_skills, cfg.discrete_skills, terms, cfg.weights,
                                  cfg.env_options, reach_contact_bonus=cfg.reach_contact_bonus)
    except (KeyError, TypeError, ValueError) as exc:
        msg = exc.args[0] if exc.args else exc
        raise DiscoveryError(f"cannot make {cfg.env_id} with env_options={cfg.env_options}: {msg}") from None


def build_model(cfg: DiscoveryConfig, env: Any):
    """The SLIM model for ``cfg`` on a wrapped env (:func:`make_env`)."""
    from stable_baselines3.common.monitor import Monitor

    from .rewards import default_object_keys, layout_indices
    from .slim import SLIM

    terms = terms_for(cfg)
    layout = env.obs_layout
    keys = cfg.discovery_keys or default_object_keys(layout)
    if not keys:
        raise DiscoveryError(f"{cfg.env_id} has no movable object; set discovery_keys (fields: {list(layout)})")
    try:
        idx = layout_indices(layout, keys)
    except KeyError as exc:
        raise DiscoveryError(f"discovery_keys: {exc.args[0]}") from None
    kind = cfg.algo if cfg.algo in ("lsd", "metra", "diayn") else cfg.discovery
    sk = layout["skill"]
    intrinsic = {"discovery": {"kind": kind, "state_indices": idx, "skill_slice": (sk.start, sk.stop),
                               "n_skills": cfg.n_skills, "discrete": cfg.discrete_skills,
                               "hidden": list(cfg.phi_hidden), "lr": cfg.phi_lr}}
    w = [float(cfg.weights.get(t, 1.0)) for t in terms]
    if cfg.algo == "naive_sum":
        head_matrix, head_weights = [w], [1.0]
    else:
        head_matrix, head_weights = np.eye(len(terms)).tolist(), w
    if cfg.base == "ppo":
        from .ppo import MultiHeadPPO

        return MultiHeadPPO("MlpPolicy", Monitor(env), term_names=terms, head_matrix=head_matrix,
                            head_weights=head_weights, intrinsic=intrinsic,
                            learning_rate=cfg.learning_rate, n_steps=cfg.n_steps, batch_size=cfg.batch_size,
                            n_epochs=cfg.n_epochs, gamma=cfg.gamma, gae_lambda=cfg.gae_lambda,
                            policy_kwargs={"net_arch": list(cfg.net_arch)}, seed=cfg.seed, device=cfg.device, verbose=0)
    return SLIM("MlpPolicy", Monitor(env), term_names=terms, head_matrix=head_matrix, head_weights=head_weights,
                normalize=cfg.normalize, entropy_heads=cfg.entropy_heads, intrinsic=intrinsic,
                critic_layout=cfg.critic_layout,
                learning_rate=cfg.learning_rate, buffer_size=cfg.buffer_size, learning_starts=cfg.learning_starts,
                batch_size=cfg.batch_size, tau=cfg.tau, gamma=cfg.gamma, train_freq=cfg.train_freq,
                gradient_steps=cfg.gradient_steps, ent_coef=cfg.ent_coef,
                policy_kwargs={"net_arch": list(cfg.net_arch)}, seed=cfg.seed, device=cfg.device, verbose=0)


# ------------------------------------------------------------------------------------- checkpoints
def find_checkpoints(ckpt_dir: str | Path) -> list[Path]:
    """``step_<n>.zip`` files in ``ckpt_dir``, oldest first."""
    d = Path(ckpt_dir)
    found = [(int(m.group(1)), p) for p in d.glob("step_*.zip") if (m := CKPT_RE.match(p.name))] if d.is_dir() else []
    return [p for _, p in sorted(found)]


def save_checkpoint(model: Any, ckpt_dir: Path, keep: int, replay_buffer: bool) -> Path:
    """Buffer first, then the model (the .zip appearing marks a complete checkpoint); both atomic."""
    stem = f"step_{model.num_timesteps:09d}"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    if replay_buffer and hasattr(model, "save_replay_buffer"):  # on-policy models have none
        with atomic_path(ckpt_dir / f"{stem}.buffer.pkl") as tmp:
            model.save_replay_buffer(tmp)
    target = ckpt_dir / f"{stem}.zip"
    with atomic_path(target) as tmp:
        model.save(tmp)
    for old in find_checkpoints(ckpt_dir)[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".buffer.pkl").unlink(missing_ok=True)
    return target


def checkpoint_base(path: str | Path) -> str:
    """``"ppo"`` or ``"sac"``: which model a checkpoint holds (its SB3 ``data`` names the policy's module), so
    run folders from before ``base`` existed (SAC, no ``base`` in their config.yaml) still load."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            module = json.loads(z.read("data"))["policy_class"]["__module__"]
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is corrupted or unreadable ({type(exc).__name__}: {exc})") from None
    return "ppo" if module.endswith(".ppo") else "sac"


def load_checkpoint(path: str | Path, env: Any = None, device: str = "cpu", replay_buffer: bool = True,
                    base: str | None = None):
    """Load a SLIM checkpoint (and its replay buffer if present); ``CheckpointError`` names a bad file.
    ``base`` ``"ppo"`` (:class:`~skill_rl.discovery.ppo.MultiHeadPPO`) or ``"sac"``
    (:class:`~skill_rl.discovery.slim.SLIM`); None: whichever the checkpoint holds."""
    from .ppo import MultiHeadPPO
    from .slim import SLIM

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    cls = MultiHeadPPO if (base or checkpoint_base(path)) == "ppo" else SLIM
    try:
        model = cls.load(path, env=env, device=device)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is corrupted or unreadable ({type(exc).__name__}: {exc})") from None
    buf = path.with_suffix(".buffer.pkl")
    if replay_buffer and buf.is_file():
        try:
            model.load_replay_buffer(buf)
        except Exception as exc:
            raise CheckpointError(f"replay buffer {buf} is corrupted or unreadable ({type(exc).__name__}: {exc})") from None
    model._last_obs = None  # the env is fresh: start a new episode
    return model


def _resume_target(resume: str) -> tuple[Path, Path]:
    p = Path(resume)
    if p.suffix == ".zip":
        return p.parent.parent, p
    ckpts = find_checkpoints(p / "ckpt")
    if not ckpts:
        raise CheckpointError(f"nothing to resume: no checkpoint in {p / 'ckpt'}")
    return p, ckpts[-1]


# ------------------------------------------------------------------------------------- evaluation
def eval_skills_list(env: Any, cfg: DiscoveryConfig, seed: int = 10_000) -> list[tuple[int, np.ndarray]]:
    """The evaluated skills: every skill (discrete) or ``2 * n_skills`` random z (continuous), as (id, z)."""
    if cfg.discrete_skills:
        return [(i, env.skill_vector(i)) for i in range(cfg.n_skills)]
    rng = np.random.default_rng(seed)
    return [(i, rng.standard_normal(cfg.n_skills).astype(np.float32)) for i in range(2 * cfg.n_skills)]


def rollout_episode(policy: Any, env: Any, z: np.ndarray, start_seed: int) -> dict[str, Any]:
    """One deterministic episode of skill ``z`` from the start of seed ``start_seed`` (the unit of work that
    :func:`rollout_skills` and the Ray evaluators in ``skill_rl.dist`` share). Returns ``initial_xy``/``final_xy``
    ``(2,)`` (watched object, m), ``features`` (see :func:`~skill_rl.discovery.metrics.trajectory_features`),
    ``grasped``, ``violations`` (a list of per-step ``(4,)`` flags) and ``episode_violation``."""
    from .metrics import trajectory_features
    from .rewards import default_object_keys

    layout = env.obs_layout
    objs = default_object_keys(layout)
    osl, esl = layout[objs[0]], layout["eef_pos"]
    obj_name = objs[0][: -len("_pos")]
    safety = getattr(env, "safety_term", None)
    obs, _ = env.reset(seed=start_seed, options={"skill": z})
    init = obs[osl][:2].copy()
    traj = [np.concatenate([obs[osl], obs[esl]])]
    viols: list[np.ndarray] = []
    g, any_v, done = False, False, False
    while not done:
        action = policy.act(obs) if hasattr(policy, "act") else policy.predict(obs, deterministic=True)[0]
        obs, _, term, trunc, info = env.step(action)
        done = term or trunc
        traj.append(np.concatenate([obs[osl], obs[esl]]))
        if "grasped" in info:
            g = g or bool(info["grasped"])
        elif hasattr(env.unwrapped, "is_grasped"):  # tasks whose info has no "grasped" (Push)
            g = g or bool(env.unwrapped.is_grasped(obj_name))
        if safety is not None:
            arm = any({a, b} == {"arm", "table"} for a, b in info.get("contacts", ()))
            v = safety.violations(obs[None], np.array([arm]))[0]
            viols.append(v)
            any_v = any_v or bool(v.any())
    return {"initial_xy": init, "final_xy": obs[osl][:2].copy(), "features": trajectory_features(np.stack(traj)),
            "grasped": g, "violations": viols, "episode_violation": any_v}


def assemble_rollouts(episodes: Sequence[dict[str, Any]], skill_ids: Sequence[int],
                      starts: Sequence[int]) -> dict[str, Any]:
    """Stack :func:`rollout_episode` results (in job order) into :func:`rollout_skills`' arrays."""
    viols = [v for e in episodes for v in e["violations"]]
    return {"initial_xy": np.array([e["initial_xy"] for e in episodes]),
            "final_xy": np.array([e["final_xy"] for e in episodes]), "skill_ids": np.array(skill_ids),
            "features": np.stack([e["features"] for e in episodes]),
            "grasped": np.array([e["grasped"] for e in episodes]),
            "violations": np.array(viols) if viols else np.zeros((0, 4), bool),
            "episode_violations": np.array([e["episode_violation"] for e in episodes]), "starts": np.array(starts)}


def rollout_skills(policy: Any, env: Any, cfg: DiscoveryConfig, seed: int = 10_000) -> dict[str, Any]:
    """Roll out every evaluated skill ``eval_episodes_per_skill`` times, deterministically; episode ``e`` of
    every skill starts from the same state (``seed + e``). Returns arrays: ``initial_xy``/``final_xy``
    ``(N, 2)`` (watched object, m), ``skill_ids`` ``(N,)``, ``features`` ``(N, F)`` (object + end-effector
    positions at 4 times, see :func:`~skill_rl.discovery.metrics.trajectory_features`), ``grasped``
    ``(N,)``, ``violations`` (per-step, stacked, ``(T_total, 4)``), ``episode_violations`` ``(N,)``, ``starts``
    ``(N,)`` (the start index ``e``; the distinctness classifier leaves one start out at a time)."""
    from .rewards import default_object_keys

    if not default_object_keys(env.obs_layout):
        return {}
    episodes, ids, starts = [], [], []
    for sid, z in eval_skills_list(env, cfg, seed):
        for ep in range(cfg.eval_episodes_per_skill):
            episodes.append(rollout_episode(policy, env, z, seed + ep))  # same start for every skill
            ids.append(sid)
            starts.append(ep)
    return assemble_rollouts(episodes, ids, starts)


def evaluate_skills(policy: Any, env: Any, cfg: DiscoveryConfig, seed: int = 10_000,
                    rollouts: dict[str, Any] | None = None) -> dict[str, float]:
    """:func:`skill_rl.discovery.metrics.summarize` of :func:`rollout_skills` (or of ``rollouts`` given)."""
    from .metrics import summarize

    r = rollouts if rollouts is not None else rollout_skills(policy, env, cfg, seed)
    if not r:
        return {}
    return summarize(r["initial_xy"], r["final_xy"], r["skill_ids"], r["violations"], r["grasped"],
                     features=r["features"], episode_violations=r["episode_violations"], groups=r["starts"])


def write_report(run_path: Path, policy: Any, env: Any, cfg: DiscoveryConfig, rollouts: dict[str, Any],
                 seed: int = 10_000, out_dir: Path | None = None) -> dict[str, Any]:
    """Plots (``plots/end_positions.png``, ``plots/reward_terms.png`` from the run's ``metrics.csv``) and, with
    ``cfg.video``, the skill video grid (``videos/skills.mp4``) into ``out_dir`` (default: the run folder).
    Returns ``{"plots": [...], "video": path}`` or ``video_error`` (rendering unavailable), never raising for
    a missing renderer."""
    from .report import plot_end_positions, plot_reward_terms, skill_video_grid

    out: dict[str, Any] = {"plots": []}
    out_dir = out_dir or run_path
    plots = out_dir / "plots"
    if rollouts:
        from skill_rl.envs.tabletop.scene import TABLE_HALF_SIZE

        out["plots"].append(str(plot_end_positions(
            rollouts["initial_xy"], rollouts["final_xy"], rollouts["skill_ids"], plots / "end_positions.png",
            table_half_xy=(float(TABLE_HALF_SIZE[0]), float(TABLE_HALF_SIZE[1])),
            title=f"{cfg.algo}: object end positions by skill")))
    if (run_path / "metrics.csv").is_file():
        p = plot_reward_terms(run_path / "metrics.csv", plots / "reward_terms.png")
        if p is not None:
            out["plots"].append(str(p))
    if cfg.video:
        try:
            venv = make_env(dataclasses.replace(cfg, env_options={**cfg.env_options, "render_mode": "rgb_array"}))
            try:
                skills = [(f"z={sid}" if cfg.discrete_skills else f"z#{sid}", z)
                          for sid, z in eval_skills_list(venv, cfg, seed)]
                act = policy.act if hasattr(policy, "act") else (lambda o: policy.predict(o, deterministic=True)[0])
                out["video"] = str(skill_video_grid(venv, act, skills, out_dir / "videos" / "skills.mp4", seed=seed))
            finally:
                venv.close()
        except Exception as exc:  # no OpenGL backend, no ffmpeg: the run's results stand without the video
            out["video_error"] = f"{type(exc).__name__}: {exc}"
    return out


def evaluate_run(path: str | Path, *, episodes_per_skill: int | None = None, video: bool | None = None) -> dict[str, Any]:
    """Evaluate a finished run (its ``skill_policy.pt``) or one of its checkpoints (``ckpt/step_<n>.zip``)
    again, into ``<run>/eval-<stamp>/``: ``summary.json`` (metrics, per-skill metrics), plots and the skill
    video grid (``video``: None = as the run's config says). The run's ``config.yaml`` gives the env and
    skills."""
    import json

    from skill_rl.config import load_config

    from .metrics import per_skill_summary
    from .policy import SkillPolicy

    p = Path(path)
    run_path = p.parent.parent if p.suffix == ".zip" else p
    if not (run_path / "config.yaml").is_file():
        raise DiscoveryError(f"{p} is neither a discovery run folder nor a checkpoint in one (no config.yaml in {run_path})")
    cfg = load_config(DiscoveryConfig, run_path / "config.yaml")
    cfg = dataclasses.replace(cfg, video=cfg.video if video is None else video,
                              eval_episodes_per_skill=episodes_per_skill or cfg.eval_episodes_per_skill)
    env = make_env(cfg)
    try:
        if p.suffix == ".zip":
            model = load_checkpoint(p, device=cfg.device, replay_buffer=False)
            policy = SkillPolicy.from_model(model, cfg.n_skills, cfg.discrete_skills, env.obs_layout)
            source = str(p)
        else:
            if not (run_path / "skill_policy.pt").is_file():
                raise CheckpointError(f"no skill_policy.pt in {run_path}; evaluate a checkpoint (ckpt/step_<n>.zip)")
            policy = SkillPolicy.load(run_path / "skill_policy.pt")
            source = str(run_path / "skill_policy.pt")
        out_dir = run_path / f"eval-{time.strftime('%Y%m%d-%H%M%S')}"
        rollouts = rollout_skills(policy, env, cfg)
        metrics = evaluate_skills(policy, env, cfg, rollouts=rollouts)
        summary: dict[str, Any] = {"run_dir": str(run_path), "source": source, "algo": cfg.algo, "eval": metrics,
                                   "eval_dir": str(out_dir)}
        if rollouts:
            summary["per_skill"] = per_skill_summary(rollouts["initial_xy"], rollouts["final_xy"],
                                                     rollouts["skill_ids"], rollouts["grasped"],
                                                     rollouts["episode_violations"])
        summary.update(write_report(run_path, policy, env, cfg, rollouts, out_dir=out_dir))
    finally:
        env.close()
    from skill_rl.runs import atomic_write_text, to_jsonable

    atomic_write_text(out_dir / "summary.json", json.dumps(to_jsonable(summary), indent=2))
    return summary


# ------------------------------------------------------------------------------------- training
def _callback(run: RunDir, cfg: DiscoveryConfig, bar: Any, recent: dict[str, deque]):
    from stable_baselines3.common.callbacks import BaseCallback

    class DiscoveryCallback(BaseCallback):
        """Progress bar, per-term episode returns, training stats, periodic checkpoints.

        Checkpoints are written at the start of a rollout: by then the previous step's transition is in
        the buffer and its gradient steps are done, so a checkpoint is a consistent state to resume from.
        """

        last_saved = -1

        def _init_callback(self) -> None:
            self.episodes = {}

        def _on_rollout_start(self) -> None:
            n = self.num_timesteps
            if self.last_saved < 0:
                self.last_saved = n
            elif n - self.last_saved >= cfg.checkpoint_every:
                save_checkpoint(self.model, run.subdir("ckpt"), cfg.keep_checkpoints, cfg.save_replay_buffer)
                self.last_saved = n

        episodes: dict[int, list[tuple[np.ndarray, np.ndarray]]]

        def _intrinsic_returns(self, i: int) -> dict[str, float]:
            """Each intrinsic term's return over env i's finished episode, with the current networks."""
            pairs = self.episodes.pop(i, [])
            if not pairs or not self.model.intrinsic:
                return {}
            import torch as th

            obs = th.as_tensor(np.stack([p[0] for p in pairs]), dtype=th.float32, device=self.model.device)
            nxt = th.as_tensor(np.stack([p[1] for p in pairs]), dtype=th.float32, device=self.model.device)
            return {name: float(m.relabel(obs, nxt).sum()) for name, m in self.model.intrinsic.items()}

        def _on_step(self) -> bool:
            n = self.num_timesteps
            bar.update(n - bar.n)
            prev = self.model._last_obs  # the observation before this step (updated after the callback)
            new_obs, dones = self.locals.get("new_obs"), self.locals.get("dones")
            for i, info in enumerate(self.locals.get("infos", ())):
                if prev is not None and new_obs is not None:
                    nxt = info.get("terminal_observation", new_obs[i]) if dones[i] else new_obs[i]
                    self.episodes.setdefault(i, []).append((np.array(prev[i]), np.array(nxt)))
                terms = info.get("episode_reward_terms")
                if terms is not None:
                    terms = {**self._intrinsic_returns(i), **terms}
                    row = {f"episode/{t}_return": v for t, v in terms.items()}
                    if "episode" in info:
                        row["episode/length"] = info["episode"]["l"]
                    row["episode/success"] = float(info.get("is_success", False))
                    run.metrics.log(row, step=n)
                    for t, v in terms.items():
                        recent.setdefault(t, deque(maxlen=20)).append(v)
            if n % cfg.log_every == 0 and self.model.last_train_stats:
                run.metrics.log(self.model.last_train_stats, step=n)
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
        cfg = _debug(cfg)
    _check(cfg)
    t0 = time.perf_counter()
    env = make_env(cfg)
    if cfg.resume:
        run_path, ckpt = _resume_target(cfg.resume)
        cfg = dataclasses.replace(cfg, base=checkpoint_base(ckpt))  # the checkpoint says what it is
        model = load_checkpoint(ckpt, env=_monitor(env), device=cfg.device, replay_buffer=cfg.save_replay_buffer,
                                base=cfg.base)
        heads = len(terms_for(cfg)) if cfg.algo == "slim" else 1
        if list(model.term_names) != terms_for(cfg) or model.n_heads != heads:
            raise DiscoveryError(f"checkpoint {ckpt} was trained with terms {model.term_names} and {model.n_heads} "
                                 f"critic(s), but this config asks for algo {cfg.algo!r} with terms {terms_for(cfg)}; "
                                 f"resume with the run's own config ({Path(ckpt).parent.parent / 'config.yaml'})")
        run = RunDir(run_path)
    else:
        th.manual_seed(cfg.seed)
        model = build_model(cfg, env)
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
            "elapsed_s": round(time.perf_counter() - t0, 2),
        }
        run.write_summary(summary)
    env.close()
    return summary


def _monitor(env: Any):
    from stable_baselines3.common.monitor import Monitor

    return Monitor(env)
