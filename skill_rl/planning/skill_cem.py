"""Planning over discovered skills: a skill dynamics model and model-predictive control with CEM over (z, duration).

The lineage SLIM's downstream claim builds on (DADS: MPPI over skills with a learned skill dynamics model;
LSD/METRA: zero-shot goal reaching): to bring an object to a goal position, choose which skill ``z`` to run
and for how many steps ``d``, by predicting where each choice leaves the object, then run the best choice in
the world, observe, and choose again (MPC, planning horizon one skill, as DADS's ``planning_horizon 1``).

* :class:`DiscoveredSkills`: one discovery run's skills as stored in the skill library (kind ``slim``, one entry
  per z, all sharing ``policy.pt``); ``load(env, z, d)`` runs any ``z`` for ``d`` steps through the library.
* :func:`collect_transitions`: run randomly chosen skills for random durations back to back from random
  starts; every step ``k`` of a segment gives one sample (start observation, z, k) -> object xy after k steps.
* :class:`SkillDynamicsModel`: an MLP (``skill_nets.DynamicsNet``) predicting the object's xy after running z for
  d steps from the start's object-centric features (object position, end effector relative to it, gripper
  opening), as the object's start xy plus a learned change.
* :func:`plan_cem`: CEM over (z, d): discrete skills through a categorical distribution, continuous z through a
  Gaussian, the duration through a Gaussian rounded to whole steps; cost = predicted distance to the goal.
* :func:`reach_goal`: the MPC loop in a tabletop env, success = object within ``tol`` (5 cm) of the goal.

Goals are xy positions on the table top (world frame, metres); a goal off the table, or a z of the wrong shape,
is a :class:`SkillPlanError` naming the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skill_rl.errors import UserError

__all__ = ["CEMConfig", "DiscoveredSkills", "GoalEpisode", "SkillDynamicsModel", "SkillPlanError", "check_goal",
           "collect_transitions", "fit_for_skills", "object_features", "plan_cem", "reach_goal", "sample_goal"]

TABLE_HALF_XY = (0.45, 0.6)  # the tabletop's half extents (skill_rl.envs.tabletop.scene.TABLE_HALF_SIZE)
GOAL_AREA = ((-0.15, 0.15), (-0.2, 0.2))  # where TabletopPush places its goal regions (x, y ranges, m)


class SkillPlanError(UserError, ValueError):
    """A goal or a skill choice the planner cannot use (off the table, wrong z shape, no skills)."""


def check_goal(goal_xy: Any) -> np.ndarray:
    """``goal_xy`` as a float ``(2,)`` array; off the table top or not two finite numbers: a SkillPlanError."""
    g = np.asarray(goal_xy, dtype=np.float64).reshape(-1)
    if g.shape != (2,) or not np.isfinite(g).all():
        raise SkillPlanError(f"a goal is an (x, y) position on the table in metres, got {goal_xy!r}")
    if abs(g[0]) > TABLE_HALF_XY[0] or abs(g[1]) > TABLE_HALF_XY[1]:
        raise SkillPlanError(f"goal ({g[0]:.3f}, {g[1]:.3f}) m is off the table top (|x| <= {TABLE_HALF_XY[0]}, "
                             f"|y| <= {TABLE_HALF_XY[1]})")
    return g


def sample_goal(rng: np.random.Generator, start_xy: np.ndarray, min_dist: float = 0.08,
                max_dist: float = 0.2) -> np.ndarray:
    """A goal in :data:`GOAL_AREA`, between ``min_dist`` and ``max_dist`` from the object's start (so that the
    object has to move at least ``min_dist`` - 5 cm)."""
    for _ in range(10_000):
        g = np.array([rng.uniform(*GOAL_AREA[0]), rng.uniform(*GOAL_AREA[1])])
        if min_dist <= np.linalg.norm(g - start_xy[:2]) <= max_dist:
            return g
    raise SkillPlanError(f"no goal {min_dist}-{max_dist} m from {start_xy[:2]} inside {GOAL_AREA}")


def object_features(obs: np.ndarray, layout: dict[str, slice], obj: str) -> np.ndarray:
    """Object-centric features ``(B, 7)`` of observations ``(B, D)``: the object's xyz, the end effector
    relative to it (xyz), the gripper opening. Metres, world frame."""
    obs = np.atleast_2d(np.asarray(obs, np.float32))
    p = obs[:, layout[f"{obj}_pos"]]
    eef = obs[:, layout["eef_pos"]]
    grip = obs[:, layout["gripper_qpos"]].sum(-1, keepdims=True)
    return np.concatenate([p, eef - p, grip], axis=1)


# ----------------------------------------------------------------------------- the skills, through the library
@dataclass
class DiscoveredSkills:
    """The skills of one discovery run in a skill library: ``entries`` (kind ``slim``, one per z).

    ``discrete``: one-hot z (the choices are the entries' z) or continuous z (any ``z_dim`` vector).
    """

    entries: list[Any]
    discrete: bool
    z_dim: int
    horizon: int
    label: str = ""

    @classmethod
    def from_library(cls, library: Any, run_dir: str | None = None, prefix: str | None = None) -> DiscoveredSkills:
        """The ``slim`` entries of one run (``run_dir`` as exported, or names starting with ``prefix``)."""
        entries = [library.get(name) for name in library.names()]
        entries = [e for e in entries if e.kind == "slim" and (run_dir is None or e.params.get("run_dir") == run_dir)
                   and (prefix is None or e.name.startswith(prefix))]
        if not entries:
            raise SkillPlanError(f"no discovered (slim) skills in {library.root} for run_dir={run_dir!r}, "
                                 f"prefix={prefix!r}; export a run with `skill-rl skills add-slim RUN`")
        runs = {e.params.get("run_dir") for e in entries}
        if len(runs) > 1:
            raise SkillPlanError(f"skills of {len(runs)} runs match; name one with run_dir or prefix: {sorted(runs)}")
        entries.sort(key=lambda e: int(e.params.get("skill_index", 0)))
        p = entries[0].params
        return cls(entries, bool(p.get("discrete", True)), len(p["z"]), int(p.get("horizon", 50)),
                   label=f"{p.get('algo', '?')} {entries[0].name.rsplit('_z', 1)[0]}")

    @property
    def choices(self) -> np.ndarray:
        """The discrete skills' z ``(K, z_dim)`` (for continuous skills: the exported examples)."""
        return np.array([e.params["z"] for e in self.entries], dtype=np.float32)

    def check_z(self, z: Any) -> np.ndarray:
        zz = np.asarray(z, dtype=np.float32)
        if zz.shape != (self.z_dim,) or not np.isfinite(zz).all():
            raise SkillPlanError(f"z must be {self.z_dim} finite numbers for these skills ({self.label}), got shape "
                                 f"{zz.shape}")
        return zz

    def load(self, env: Any, z: Any, duration: int) -> Any:
        """The library skill running ``z`` for ``duration`` steps (``entry.load(env, z=..., horizon=...)``)."""
        zz = self.check_z(z)
        if int(duration) < 1:
            raise SkillPlanError(f"a skill runs for at least 1 step, got duration {duration}")
        return self.entries[0].load(env, z=[float(v) for v in zz], horizon=int(duration))


# ----------------------------------------------------------------------------- data and the dynamics model
def collect_transitions(env: Any, sample_z: Callable[[np.random.Generator], np.ndarray],
                        run_skill: Callable[[Any, np.ndarray, int], Any], n_steps: int, seed: int,
                        durations: tuple[int, int] = (5, 40), episode_steps: int = 150) -> dict[str, np.ndarray]:
    """``n_steps`` env steps of randomly chosen skills run back to back (random z, random duration in
    ``durations``), episodes of ``episode_steps`` from seeded starts. Returns ``obs`` ``(N, D)`` (the segment's
    start observation), ``z`` ``(N, z_dim)``, ``d`` ``(N,)`` (steps run so far in the segment, 1..duration) and
    ``xy`` ``(N, 2)`` (the object's xy after them) for every step: a segment of d steps gives d samples."""
    rng = np.random.default_rng(seed)
    layout = env.unwrapped.obs_layout
    obj = _object_key(layout)
    rows: dict[str, list[Any]] = {"obs": [], "z": [], "d": [], "xy": []}
    taken, episode = 0, 0
    while taken < n_steps:
        obs, _ = env.reset(seed=seed * 100_003 + episode)
        episode += 1
        t = 0
        while t < episode_steps and taken < n_steps:
            z = sample_z(rng)
            dur = int(rng.integers(durations[0], durations[1] + 1))
            skill = run_skill(env, z, dur)
            start = np.asarray(obs, np.float32).copy()
            for k in range(1, dur + 1):
                obs, _, term, trunc, _ = env.step(skill.act(obs))
                rows["obs"].append(start)
                rows["z"].append(z)
                rows["d"].append(k)
                rows["xy"].append(np.asarray(obs, np.float32)[layout[f"{obj}_pos"]][:2].copy())
                t += 1
                taken += 1
                if term or trunc or t >= episode_steps:
                    break
            if term or trunc:
                break
    return {"obs": np.stack(rows["obs"]), "z": np.stack(rows["z"]).astype(np.float32),
            "d": np.array(rows["d"], np.float32), "xy": np.stack(rows["xy"])}


def _object_key(layout: dict[str, slice]) -> str:
    objs = [k[:-4] for k in layout if k.endswith("_pos") and f"{k[:-4]}_quat" in layout and k != "eef_pos"]
    if not objs:
        raise SkillPlanError(f"the observation has no movable object (fields: {list(layout)})")
    return objs[0]


@dataclass
class SkillDynamicsModel:
    """Predicts the object's xy after running skill ``z`` for ``d`` steps from an observation.

    Input: :func:`object_features` of the start, z, ``d / d_max``; output: the object's xy = its start xy + an
    MLP's change (``skill_nets.DynamicsNet``, normalised inside), so "nothing moves" is the zero change.
    """

    layout: dict[str, slice]
    z_dim: int
    d_max: int
    hidden: int = 128
    obj: str = ""
    net: Any = None
    report: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from .skill_nets import DynamicsNet

        self.obj = self.obj or _object_key(self.layout)
        if self.net is None:
            self.net = DynamicsNet(7 + self.z_dim + 1, base_idx=[0, 1], hidden=self.hidden)

    def inputs(self, obs: Any, z: Any, d: Any) -> np.ndarray:
        """``(B, 7 + z_dim + 1)`` model inputs; shapes are checked (a z of the wrong shape names the expected one)."""
        feats = object_features(obs, self.layout, self.obj)
        zz = np.asarray(z, np.float32)
        if zz.ndim == 1:
            zz = zz[None]
        if zz.ndim != 2 or zz.shape[1] != self.z_dim:
            raise SkillPlanError(f"z must have shape (B, {self.z_dim}) or ({self.z_dim},), got {np.shape(z)}")
        dd = np.asarray(d, np.float32).reshape(-1, 1) / float(self.d_max)
        b = max(len(feats), len(zz), len(dd))
        feats, zz, dd = (np.broadcast_to(a, (b, a.shape[1])) if len(a) == 1 else a for a in (feats, zz, dd))
        if not len(feats) == len(zz) == len(dd):
            raise SkillPlanError(f"batch sizes differ: {len(feats)} observations, {len(zz)} z, {len(dd)} durations")
        return np.concatenate([feats, zz, dd], axis=1).astype(np.float32)

    def predict(self, obs: Any, z: Any, d: Any) -> np.ndarray:
        """The object's predicted xy ``(B, 2)`` after running each z for each d from each observation."""
        import torch

        x = torch.as_tensor(self.inputs(obs, z, d))
        with torch.no_grad():
            return self.net(x).numpy()

    def fit(self, data: dict[str, np.ndarray], epochs: int = 400, lr: float = 3e-3, holdout: float = 0.2,
            seed: int = 0, batch: int = 4096) -> dict[str, float]:
        """Fit on :func:`collect_transitions` data (Adam on the normalised change, minibatches); ``report``:
        held-out mean error (m) of the model and of "the object stays where it is"."""
        import torch

        torch.manual_seed(seed)
        x = self.inputs(data["obs"], data["z"], data["d"])
        y = np.asarray(data["xy"], np.float32)
        rng = np.random.default_rng(seed)
        idx = rng.permutation(len(x))
        n_test = int(len(x) * holdout)
        test, train = idx[:n_test], idx[n_test:]
        if len(train) < 2:
            raise SkillPlanError(f"too few transitions to fit a skill dynamics model: {len(x)}")
        net = self.net
        xt, yt = torch.as_tensor(x[train]), torch.as_tensor(y[train])
        base = xt[:, :2]
        change = yt - base
        net.x_mean.copy_(xt.mean(0))
        net.x_std.copy_(xt.std(0).clamp_min(1e-3))
        net.d_mean.copy_(change.mean(0))
        net.d_std.copy_(change.std(0).clamp_min(1e-3))
        target = (change - net.d_mean) / net.d_std
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-5)
        for _ in range(epochs):
            perm = torch.randperm(len(xt))
            for s in range(0, len(xt), batch):
                i = perm[s:s + batch]
                loss = torch.nn.functional.mse_loss(net.change(xt[i]), target[i])
                opt.zero_grad()
                loss.backward()
                opt.step()
        net.eval()
        if n_test:
            with torch.no_grad():
                pred = net(torch.as_tensor(x[test])).numpy()
            err = float(np.linalg.norm(pred - y[test], axis=1).mean())
            still = float(np.linalg.norm(x[test][:, :2] - y[test], axis=1).mean())
        else:
            err = still = float("nan")
        self.report = {"heldout_error_m": err, "stay_put_error_m": still, "n_train": float(len(train)),
                       "n_test": float(n_test)}
        return self.report


# ----------------------------------------------------------------------------- CEM over (z, d) and MPC
@dataclass
class CEMConfig:
    samples: int = 128
    elites: int = 12
    iterations: int = 4
    durations: tuple[int, int] = (5, 40)


def plan_cem(predict: Callable[[np.ndarray, np.ndarray], np.ndarray], goal_xy: Any, z_dim: int,
             choices: np.ndarray | None, rng: np.random.Generator, cfg: CEMConfig | None = None
             ) -> tuple[np.ndarray, int, float]:
    """The (z, d) whose predicted object xy is nearest ``goal_xy``, by the cross-entropy method.

    ``predict(z (B, z_dim), d (B,)) -> xy (B, 2)`` (the model at the current observation). ``choices``: the
    discrete skills' z ``(K, z_dim)`` (a categorical over them is refitted), or None for continuous z (a
    Gaussian, starting at N(0, I)). Returns (z, d, predicted distance to the goal in m)."""
    cfg = cfg or CEMConfig()
    goal = check_goal(goal_xy)
    lo, hi = cfg.durations
    if choices is not None:
        choices = np.asarray(choices, np.float32)
        if choices.ndim != 2 or choices.shape[1] != z_dim or len(choices) == 0:
            raise SkillPlanError(f"choices must be a (K, {z_dim}) array of skill vectors, got {choices.shape}")
        probs = np.full(len(choices), 1.0 / len(choices))
    else:
        mu, sigma = np.zeros(z_dim), np.ones(z_dim)
    d_mu, d_sigma = (lo + hi) / 2.0, (hi - lo) / 2.0
    best: tuple[float, np.ndarray, int] = (np.inf, np.zeros(z_dim, np.float32), lo)
    for _ in range(cfg.iterations):
        if choices is not None:
            k = rng.choice(len(choices), size=cfg.samples, p=probs)
            z = choices[k]
        else:
            z = (mu + sigma * rng.standard_normal((cfg.samples, z_dim))).astype(np.float32)
        d = np.clip(np.round(d_mu + d_sigma * rng.standard_normal(cfg.samples)), lo, hi).astype(np.int64)
        cost = np.linalg.norm(predict(z, d) - goal, axis=1)
        order = np.argsort(cost)[: cfg.elites]
        if cost[order[0]] < best[0]:
            best = (float(cost[order[0]]), z[order[0]].copy(), int(d[order[0]]))
        if choices is not None:
            counts = np.bincount(k[order], minlength=len(choices)).astype(np.float64)
            probs = 0.9 * counts / counts.sum() + 0.1 / len(choices)  # keep every skill possible
        else:
            mu, sigma = z[order].mean(0), z[order].std(0) + 0.05
        d_mu, d_sigma = float(d[order].mean()), float(d[order].std()) + 1.0
    return best[1], best[2], best[0]


@dataclass
class GoalEpisode:
    success: bool
    final_distance: float
    start_distance: float
    segments: int
    steps: int
    predicted_errors: list[float]  # |predicted - reached| object xy per segment (m)


def reach_goal(env: Any, skills: DiscoveredSkills, model: SkillDynamicsModel, goal_xy: Any, seed: int,
               rng: np.random.Generator, tol: float = 0.05, max_segments: int = 8,
               cem: CEMConfig | None = None, obs: np.ndarray | None = None) -> GoalEpisode:
    """MPC: from ``env.reset(seed=seed)`` (or the given ``obs``), plan (z, d) with :func:`plan_cem`, run the
    library skill, observe, repeat until the object is within ``tol`` of the goal or ``max_segments`` ran."""
    goal = check_goal(goal_xy)
    if obs is None:
        obs, _ = env.reset(seed=seed)
    layout = env.unwrapped.obs_layout
    sl = layout[f"{model.obj}_pos"]

    def dist(o: np.ndarray) -> float:
        return float(np.linalg.norm(np.asarray(o)[sl][:2] - goal))

    start, steps, errors = dist(obs), 0, []
    choices = skills.choices if skills.discrete else None
    for seg in range(max_segments):
        if dist(obs) <= tol:
            return GoalEpisode(True, dist(obs), start, seg, steps, errors)
        here = np.asarray(obs, np.float32)
        z, d, _ = plan_cem(lambda zz, dd, here=here: model.predict(here[None], zz, dd), goal, skills.z_dim, choices,
                           rng, cem)
        predicted = model.predict(here[None], z, [d])[0]
        skill = skills.load(env, z, d)
        for _ in range(d):
            obs, _, term, trunc, _ = env.step(skill.act(obs))
            steps += 1
            if term or trunc:
                break
        errors.append(float(np.linalg.norm(np.asarray(obs)[sl][:2] - predicted)))
        if term or trunc:
            break
    return GoalEpisode(dist(obs) <= tol, dist(obs), start, max_segments, steps, errors)


def fit_for_skills(env: Any, skills: DiscoveredSkills, n_steps: int, seed: int, durations: tuple[int, int] = (5, 40),
                   epochs: int = 300, hidden: int = 128) -> SkillDynamicsModel:
    """Collect ``n_steps`` of random skill segments with these skills (through the library) and fit the model."""
    if skills.discrete:
        choices = skills.choices

        def sample_z(rng: np.random.Generator) -> np.ndarray:
            return choices[rng.integers(len(choices))]
    else:
        def sample_z(rng: np.random.Generator) -> np.ndarray:
            return rng.standard_normal(skills.z_dim).astype(np.float32)

    data = collect_transitions(env, sample_z, skills.load, n_steps, seed, durations)
    model = SkillDynamicsModel(env.unwrapped.obs_layout, skills.z_dim, durations[1], hidden=hidden)
    model.fit(data, epochs=epochs, seed=seed)
    return model
