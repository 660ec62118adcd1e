"""Demonstrations in memory and the typed batches the BC policies train on (numpy in, torch out)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from .history import history_index

__all__ = ["BCBatch", "DemoSet", "PlanBatch", "PlanWindows", "rest_goal_rows"]


def rest_goal_rows(features: np.ndarray, lengths: Sequence[int], tol: float, settle: int, after: int = 0,
                   stay: int = 0, away: float = 0.0, arm_dist: np.ndarray | None = None,
                   groups: Sequence[int] | None = None, before_approach: str = "keep",
                   approach_slack: float = 0.01, approach_far: float = 0.12, approach_steps: int = 5,
                   lift_rise: float = 0.0, lift_back: float = 0.02) -> np.ndarray:
    """Each row's goal row from the observations alone: the next frame where the ``features`` (e.g. the objects'
    positions and the drawer) come to rest after moving, plus ``after`` steps (cut at the episode's last row);
    -1 where the episode has no such frame ahead.

    A frame ``r`` is a rest onset when some feature moved more than ``tol`` between ``r - 1`` and ``r`` and none
    moves more than ``tol`` over the next ``settle`` steps. Why: a behaviour in play (a push, a place, a drawer
    move) ends where what it moved stops, so these frames cut play roughly where a segmented demo would end,
    without the player's log. Uniform hindsight goals mostly fall mid-behaviour or across several behaviours
    (docs/play.md, "Rung c").

    ``stay``: the first ``stay`` rows from an onset on (while nothing moves) get that onset as their goal, i.e. the
    state they are in: "done, let go and back off". Without such rows the policy never sees a goal it has
    reached, and with the oracle's segment goals dropping them costs most of the success (docs/play.md).

    ``away`` > 0 (with ``arm_dist`` (N, M), the arm's distance to each of M things, and ``groups`` (F,), the thing
    each feature column belongs to): an onset counts only if, before anything moves again, the arm gets farther
    than ``away`` from every thing that moved in the onset's last 4 frames (or the episode ends). Why: a push in
    play moves its object in bursts while the arm re-places behind it; those pauses are rests too, and cut a push
    into pieces that no held-out push goal looks like. A behaviour ends when the arm leaves what it moved.

    ``before_approach`` ("keep", "stay", "drop" or "far"; needs ``arm_dist`` and ``groups``): a row whose goal lies
    ahead but which comes before the arm's approach to what moves next (the frames over which the arm's distance to
    it keeps falling, up to ``approach_slack`` m of noise) is in a retreat, a random reach or a pause: its action
    says nothing about that goal. "stay" gives it its own frame as the goal (as the oracle segmentation does: 27 %
    of its rows), "drop" leaves it out. Why: at a held-out start the arm is away from the object, the states where
    these rows' actions would otherwise be averaged into the goal's approach. "far" judges each row on its own
    instead of walking back from the motion (DART noise breaks the walk early): a row that moves nothing, is more
    than ``approach_far`` m from what moves next and does not get ``approach_slack`` m closer to it over the next
    ``approach_steps`` steps (or up to the motion) gets its own frame as the goal. Against the oracle's stay rows
    on the 3 h play: precision 88 %, recall 60 % ("stay" 68 / 63 %; ``rest_goals.json``); rung c 32.2 % against
    25.6 % without (docs/play.md).

    ``lift_rise`` > 0 (needs ``groups``; objects are the groups of three feature columns, x, y, z): an excursion of
    an object more than ``lift_rise`` m above its last still height, which ends within ``lift_back`` m of where it
    started, is a lift that put its object back; the rows before its highest frame that share that frame's goal
    (and have it ahead) get the highest frame instead. Why: the rest after such a lift looks like the rest before
    it, so no rest goal shows a lifted object, which is what a held-out lift's goal is. Rung c with it: 35.6 %
    against 32.2 %, lifts 6-10 % -> 31-50 % (``imitation_c_rest_lift.json``, docs/play.md)."""
    features = np.asarray(features, np.float64)
    lengths_a = np.asarray(lengths, np.int64)
    if features.ndim != 2 or int(lengths_a.sum()) != len(features) or (lengths_a < 1).any():
        raise ValueError(f"features must be (N, F) with episode lengths >= 1 summing to N, got {features.shape} and "
                         f"sum {int(lengths_a.sum())}")
    if tol <= 0 or settle < 1 or after < 0 or stay < 0 or away < 0:
        raise ValueError(f"need tol > 0, settle >= 1, after >= 0, stay >= 0 and away >= 0, got {tol}, {settle}, "
                         f"{after}, {stay}, {away}")
    if before_approach not in ("keep", "stay", "drop", "far"):
        raise ValueError(f"before_approach must be 'keep', 'stay', 'drop' or 'far', got {before_approach!r}")
    if approach_steps < 1 or approach_far < 0:
        raise ValueError(f"need approach_steps >= 1 and approach_far >= 0, got {approach_steps}, {approach_far}")
    if lift_rise < 0 or lift_back < 0:
        raise ValueError(f"need lift_rise >= 0 and lift_back >= 0, got {lift_rise}, {lift_back}")
    if lift_rise > 0 and (groups is None or np.shape(groups) != (features.shape[1],)):
        raise ValueError(f"lift_rise > 0 needs groups ({features.shape[1]},): the object each feature column belongs "
                         f"to, got {None if groups is None else np.shape(groups)}")
    group_of = None
    if away > 0 or before_approach != "keep":
        if arm_dist is None or groups is None:
            raise ValueError("away > 0 and before_approach need arm_dist (N, M) and groups (F,)")
        arm_dist = np.asarray(arm_dist, np.float64)
        group_of = np.asarray(groups, np.int64)
        if arm_dist.ndim != 2 or len(arm_dist) != len(features) or group_of.shape != (features.shape[1],) \
                or group_of.min() < 0 or group_of.max() >= arm_dist.shape[1]:
            raise ValueError(f"arm_dist must be (N={len(features)}, M) and groups ({features.shape[1]},) in [0, M), "
                             f"got {arm_dist.shape} and {group_of.shape}")
    goal_rows = np.full(len(features), -1, np.int64)
    start = 0
    for n in lengths_a.tolist():
        f = features[start:start + n]
        changed = np.zeros(f.shape, bool)  # changed[t, j]: feature j changed between t - 1 and t
        if n > 1:
            changed[1:] = np.abs(np.diff(f, axis=0)) > tol
        moving = changed.any(axis=1)
        # still_ahead[t]: no change in (t, t + settle]; the episode's end counts as rest
        still_ahead = np.ones(n, bool)
        for k in range(1, min(settle, n) + 1):  # (an episode shorter than settle: an object fell off early)
            still_ahead[:n - k] &= ~moving[k:]
        onsets = np.flatnonzero(moving & still_ahead)
        motion_starts = np.flatnonzero(moving & ~np.concatenate([[False], moving[:-1]]))  # first frame of each motion
        move_rows = np.append(np.flatnonzero(moving), n)  # n: no move ahead
        next_move = move_rows[np.searchsorted(move_rows, onsets, side="right")]  # the first move after each onset
        if away > 0:
            assert arm_dist is not None and group_of is not None
            d = arm_dist[start:start + n]
            keep = np.ones(len(onsets), bool)
            for i, (o, nxt) in enumerate(zip(onsets.tolist(), next_move.tolist(), strict=True)):
                if nxt < n:  # the arm must get away from what moved before the next move
                    things = np.unique(group_of[changed[max(0, o - 3):o + 1].any(axis=0)])
                    keep[i] = bool((d[o:nxt][:, things].min(axis=1) > away).any())
            onsets, next_move = onsets[keep], next_move[keep]
        nxt = np.searchsorted(onsets, np.arange(n), side="right")  # the first onset after each row
        has = nxt < len(onsets)
        rows = np.arange(n)[has]
        goal_rows[start + rows] = start + np.minimum(onsets[nxt[has]] + after, n - 1)
        if stay:
            for o, nxt in zip(onsets.tolist(), next_move.tolist(), strict=True):  # rows o .. before the next
                goal_rows[start + o: start + min(o + stay, nxt)] = start + o  # move (at most stay) stay at o
        if before_approach == "far":
            assert arm_dist is not None and group_of is not None
            d = arm_dist[start:start + n]
            if len(motion_starts):
                r = np.arange(n)
                k = np.searchsorted(motion_starts, r)  # the first motion start at or after each row
                m = motion_starts[np.minimum(k, len(motion_starts) - 1)]
                thing = group_of[changed[m].argmax(axis=1)]  # what moves first there
                far = d[r, thing] > approach_far
                closing = d[r, thing] - d[np.minimum(r + approach_steps, m), thing] > approach_slack
                rows = r[(k < len(motion_starts)) & ~moving & far & ~closing & (goal_rows[start + r] > start + r)]
                goal_rows[start + rows] = start + rows
        elif before_approach != "keep":
            assert arm_dist is not None and group_of is not None
            d, prev_end = arm_dist[start:start + n], 0
            for m in motion_starts.tolist():
                dm = d[:, np.unique(group_of[changed[m]])].min(axis=1)
                a = m  # walk back over the approach: the distance falls towards m (up to the slack)
                while a - 1 >= prev_end and dm[a - 1] > dm[a] - approach_slack:
                    a -= 1
                rows = np.arange(prev_end, a)
                rows = rows[goal_rows[start + rows] > start + rows]  # stays keep theirs
                goal_rows[start + rows] = start + rows if before_approach == "stay" else -1
                prev_end = m + int(np.argmin(moving[m:])) if not moving[m:].all() else n
        if lift_rise > 0:
            assert groups is not None
            _lift_peak_goals(f, changed, goal_rows[start:start + n], start, np.asarray(groups), lift_rise, lift_back)
        start += n
    return goal_rows


def _lift_peak_goals(f: np.ndarray, changed: np.ndarray, goal_rows: np.ndarray, start: int, groups: np.ndarray,
                     rise: float, back: float) -> None:
    """In place, one episode (``changed`` its (n, F) per-step changes over the rest tolerance, ``goal_rows``
    absolute rows, the episode starting at ``start``): see :func:`rest_goal_rows`' ``lift_rise``."""
    n = len(f)
    for g in np.unique(groups):
        cols = np.flatnonzero(groups == g)
        if len(cols) != 3:
            continue  # positions are (x, y, z); the drawer's opening is one column
        p = f[:, cols]
        still = ~changed[:, cols].any(axis=1)  # the object did not move from the row before
        last_still = np.maximum.accumulate(np.where(still, np.arange(n), 0))
        lifted = p[:, 2] > p[last_still, 2] + rise
        edges = np.flatnonzero(np.diff(np.r_[0, lifted.astype(int), 0]))
        for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
            after_rows = np.flatnonzero(still[b:])
            if not len(after_rows) or np.abs(p[b + after_rows[0]] - p[last_still[a]]).max() > back:
                continue  # not put back where it was: a place or a stack, whose rest goal is right
            peak = a + int(np.argmax(p[a:b, 2]))
            r = np.arange(peak)
            sel = r[(goal_rows[:peak] == goal_rows[peak]) & (goal_rows[:peak] > start + r)]
            goal_rows[sel] = start + peak


class BCBatch(NamedTuple):
    """obs (B, H, D) float32 raw observation histories (oldest first); actions (B, A) float32 in [-1, 1], the
    action taken after the newest frame; goal (B, D) float32 raw goal observations, or None (no goal)."""

    obs: torch.Tensor
    actions: torch.Tensor
    goal: torch.Tensor | None = None


class PlanBatch(NamedTuple):
    """Play-LMP's batch: B play windows and K policy rows drawn from each.

    window_obs (B, W, D) raw observations and window_actions (B, W, A) of each window (padded to the longest
    window W, ``mask`` (B, W) True on real steps); goal (B, D) the observation right after each window's last
    step; obs (B, K, H, D) the histories of K steps drawn inside each window and actions (B, K, A) theirs."""

    window_obs: torch.Tensor
    window_actions: torch.Tensor
    mask: torch.Tensor
    goal: torch.Tensor
    obs: torch.Tensor
    actions: torch.Tensor


@dataclass
class DemoSet:
    """Every step of a set of demos: ``obs`` (N, D), ``actions`` (N, A), ``hist`` (N, H) row indices of each
    step's history (:func:`~skill_rl.imitation.history.history_index`), ``goal`` (N, D) each step's goal
    observation (its demo's last observation) or None, ``episode_ends`` (E,) exclusive row ends, ``rows`` the
    rows batches are drawn from (None: all), ``group_sizes`` (G,) set by ``concat(..., balanced=True)``: ``rows``
    is G consecutive groups of these sizes (one per part) and :meth:`sample` draws each group equally often."""

    obs: np.ndarray
    actions: np.ndarray
    hist: np.ndarray
    goal: np.ndarray | None
    episode_ends: np.ndarray
    rows: np.ndarray | None = None
    group_sizes: np.ndarray | None = None
    goal_offsets: tuple[int, int] | None = None  # hindsight goals: see :meth:`hindsight`
    row_ends: np.ndarray | None = None  # hindsight goals: each row's episode end (exclusive)
    goal_rows: np.ndarray | None = None  # rest goals: each row's goal row (-1: none), see :meth:`rest_goals`

    def __len__(self) -> int:
        """The number of training samples (``rows``, or every row)."""
        return int(self.actions.shape[0] if self.rows is None else len(self.rows))

    @property
    def n_episodes(self) -> int:
        return int(len(self.episode_ends))

    @classmethod
    def from_arrays(cls, obs: np.ndarray, actions: np.ndarray, lengths: Sequence[int], history: int,
                    goal: bool = False, skip_last: bool = False) -> DemoSet:
        """Demos stored back to back (``lengths`` steps each). ``goal``: each step's goal is its demo's last
        observation (the state the demo ends in). ``skip_last``: never train on a demo's last row (it stays the
        goal and a history frame), e.g. the play demos' final "stay" row."""
        obs = np.asarray(obs, np.float32)
        actions = np.asarray(actions, np.float32)
        lengths_a = np.asarray(lengths, np.int64)
        if obs.ndim != 2 or actions.ndim != 2 or len(obs) != len(actions):
            raise ValueError(f"obs (N, D) and actions (N, A) must have the same N, got {obs.shape} and "
                             f"{actions.shape}")
        if (lengths_a < 1).any() or int(lengths_a.sum()) != len(obs):
            raise ValueError(f"episode lengths must be >= 1 and sum to the {len(obs)} rows, got sum "
                             f"{int(lengths_a.sum())}")
        ends = np.cumsum(lengths_a)
        starts = ends - lengths_a
        goals = np.repeat(obs[ends - 1], lengths_a, axis=0) if goal else None
        rows = np.setdiff1d(np.arange(len(obs)), ends - 1) if skip_last else None
        return cls(obs, actions, history_index(starts, ends, history), goals, ends, rows)

    @classmethod
    def hindsight(cls, obs: np.ndarray, actions: np.ndarray, lengths: Sequence[int], history: int,
                  goal_offsets: tuple[int, int]) -> DemoSet:
        """Unsegmented play as goal-conditioned data (Play-GCBC's hindsight relabelling, Lynch et al. 2019): each
        sampled row's goal is the observation ``k`` steps later in its episode, ``k`` drawn uniformly from
        ``goal_offsets`` (inclusive; cut at the episode's last row) every time the row is drawn."""
        lo, hi = (int(v) for v in goal_offsets)
        if not 1 <= lo <= hi:
            raise ValueError(f"goal_offsets must be 1 <= low <= high, got {goal_offsets}")
        base = cls.from_arrays(obs, actions, lengths, history)
        base.goal_offsets = (lo, hi)
        base.row_ends = base.episode_end_of_rows()
        return base

    @classmethod
    def rest_goals(cls, obs: np.ndarray, actions: np.ndarray, lengths: Sequence[int], history: int,
                   goal_cols: Sequence[int], tol: float, settle: int, after: int, stay: int = 0, away: float = 0.0,
                   arm_dist: np.ndarray | None = None, groups: Sequence[int] | None = None,
                   before_approach: str = "keep", approach_slack: float = 0.01, approach_far: float = 0.12,
                   approach_steps: int = 5, lift_rise: float = 0.0, lift_back: float = 0.02) -> DemoSet:
        """Unsegmented play as goal-conditioned data, each row's goal the next frame where the ``goal_cols``
        features come to rest (:func:`rest_goal_rows`, also for ``away``, ``arm_dist``, ``groups``, the
        ``approach_*`` and ``lift_*`` settings); rows with no rest ahead in their episode are not trained on (they stay history frames)."""
        base = cls.from_arrays(obs, actions, lengths, history)
        cols = np.asarray(goal_cols, np.int64)
        if cols.ndim != 1 or len(cols) == 0 or cols.min() < 0 or cols.max() >= base.obs.shape[1]:
            raise ValueError(f"goal_cols must index the {base.obs.shape[1]} observation columns, got {list(cols)}")
        goal_rows = rest_goal_rows(base.obs[:, cols], lengths, tol, settle, after, stay, away, arm_dist, groups,
                                   before_approach, approach_slack, approach_far, approach_steps, lift_rise,
                                   lift_back)
        rows = np.flatnonzero(goal_rows >= 0)
        if len(rows) == 0:
            raise ValueError(f"no frame comes to rest after moving (tol {tol}, settle {settle}): nothing to train on")
        base.rows, base.goal_rows = rows, goal_rows  # goals are read at batch time (no (N, D) copy)
        return base

    def episode_end_of_rows(self) -> np.ndarray:
        """(N,) each row's episode end (exclusive row index)."""
        return np.repeat(self.episode_ends, np.diff(np.concatenate([[0], self.episode_ends])))

    def batch(self, idx: np.ndarray, device: str | torch.device = "cpu", goal_rows: np.ndarray | None = None
              ) -> BCBatch:
        """Rows ``idx``; their goals are the ``goal`` rows, or the observations at ``goal_rows`` (hindsight)."""
        goal = (None if self.goal is None else torch.as_tensor(self.goal[idx], device=device)) if goal_rows is None \
            else torch.as_tensor(self.obs[goal_rows], device=device)
        return BCBatch(torch.as_tensor(self.obs[self.hist[idx]], device=device),
                       torch.as_tensor(self.actions[idx], device=device), goal)

    def sample(self, rng: np.random.Generator, n: int, device: str | torch.device = "cpu") -> BCBatch:
        """``n`` training samples (``rows``) drawn with replacement: uniformly over the rows, or, with
        ``group_sizes``, a uniform group and then a uniform row within it (a short task's rows are not
        outnumbered by a long task's)."""
        if self.group_sizes is None:
            idx = rng.integers(0, len(self), size=n)
        else:
            starts = np.cumsum(self.group_sizes) - self.group_sizes
            g = rng.integers(0, len(self.group_sizes), size=n)
            idx = starts[g] + (rng.random(n) * self.group_sizes[g]).astype(np.int64)
        rows = idx if self.rows is None else self.rows[idx]
        goal_rows = None if self.goal_rows is None else self.goal_rows[rows]
        if self.goal_offsets is not None and self.row_ends is not None:
            goal_rows = np.minimum(rows + rng.integers(self.goal_offsets[0], self.goal_offsets[1] + 1, size=n),
                                   self.row_ends[rows] - 1)
        return self.batch(rows, device, goal_rows)

    @staticmethod
    def concat(parts: Sequence[DemoSet], balanced: bool = False) -> DemoSet:
        """Several demo sets as one (e.g. all tasks' demos for a multi-task policy). ``balanced``: batches draw
        each part equally often, whatever its number of rows (task-balanced batches for a multi-task policy)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        if any(p.group_sizes is not None for p in parts):
            raise ValueError("concatenating an already balanced DemoSet: concatenate its parts instead")
        if len({p.goal_offsets for p in parts}) != 1:
            raise ValueError("either every part has the same hindsight goal_offsets or none has")
        if len({p.goal is None for p in parts}) != 1 or len({p.goal_rows is None for p in parts}) != 1:
            raise ValueError("either every part has goals (of the same kind) or none has")
        offsets = np.cumsum([0] + [len(p.obs) for p in parts[:-1]])
        goal = None if parts[0].goal is None else np.concatenate([p.goal for p in parts])  # type: ignore[misc]
        rows = None
        if balanced or any(p.rows is not None for p in parts):
            rows = np.concatenate([(np.arange(len(p.obs)) if p.rows is None else p.rows) + o
                                   for p, o in zip(parts, offsets, strict=True)])
        return DemoSet(np.concatenate([p.obs for p in parts]), np.concatenate([p.actions for p in parts]),
                       np.concatenate([p.hist + o for p, o in zip(parts, offsets, strict=True)]), goal,
                       np.concatenate([p.episode_ends + o for p, o in zip(parts, offsets, strict=True)]), rows,
                       np.array([len(p) for p in parts], np.int64) if balanced else None, parts[0].goal_offsets,
                       None if parts[0].row_ends is None else
                       np.concatenate([p.row_ends + o for p, o in zip(parts, offsets, strict=True)]),  # type: ignore[operator]
                       None if parts[0].goal_rows is None else
                       np.concatenate([np.where(p.goal_rows >= 0, p.goal_rows + o, -1)  # type: ignore[operator]
                                       for p, o in zip(parts, offsets, strict=True)]))


@dataclass
class PlanWindows:
    """Play as Play-LMP windows (Lynch et al. 2019): a window is ``k`` consecutive steps of one episode, ``k``
    uniform in ``window`` (inclusive; cut at the episode's end), its goal the observation right after it. On
    rest-relabelled play (``demos.goal_rows``, :meth:`DemoSet.rest_goals`) a window instead runs from its start
    row to that row's goal row (starts whose goal is more than ``window[1]`` steps ahead are not drawn); a stay
    row (its goal the rest it is in, ``rest_stay``) starts a window of it and the stay rows after it at the same
    rest (at most ``window[1]``), whose goal is that rest: without them the plans never see a reached goal, the
    stays that rung c's oracle showed matter most (docs/play.md).

    ``plan_steps`` of each window's steps are drawn for the policy's loss (every step would make a batch of B
    windows cost W times a BC batch); the recognition network still reads the whole window."""

    demos: DemoSet
    window: tuple[int, int]
    plan_steps: int = 8

    def __post_init__(self) -> None:
        lo, hi = (int(v) for v in self.window)
        if not 1 <= lo <= hi or self.plan_steps < 1:
            raise ValueError(f"window must be 1 <= low <= high and plan_steps >= 1, got {self.window}, "
                             f"{self.plan_steps}")
        self.window = (lo, hi)
        self._row_ends = self.demos.episode_end_of_rows()
        if self.demos.goal_rows is None:
            self._starts = np.flatnonzero(self._row_ends - np.arange(len(self._row_ends)) > lo)  # lo steps and a goal
        else:  # rest goals: the window ends at its start's goal, or a stay window runs to the end of its stay
            goal_rows = self.demos.goal_rows
            ahead = goal_rows - np.arange(len(goal_rows))
            stay = (goal_rows >= 0) & (ahead <= 0)
            run = np.ones(len(goal_rows), np.int64)  # stay rows: how many rows from here stay at the same rest
            for r in np.flatnonzero(stay[:-1] & stay[1:] & (goal_rows[:-1] == goal_rows[1:]))[::-1].tolist():
                run[r] = run[r + 1] + 1
            self._k = np.where(stay, np.minimum(run, hi), ahead)
            self._starts = np.flatnonzero(((goal_rows >= 0) & (ahead >= 1) & (ahead <= hi)) | stay)
        if len(self._starts) == 0:
            raise ValueError(f"no window to draw: no episode is longer than the shortest window ({lo} steps)"
                             if self.demos.goal_rows is None else
                             f"no window to draw: no row's rest goal lies 1-{hi} steps ahead")

    def sample(self, rng: np.random.Generator, n: int, device: str | torch.device = "cpu") -> PlanBatch:
        """``n`` windows drawn uniformly over their start rows (with replacement)."""
        lo, hi = self.window
        start = self._starts[rng.integers(0, len(self._starts), size=n)]
        if self.demos.goal_rows is not None:
            k, goal = self._k[start], self.demos.goal_rows[start]  # k in [1, hi]
        else:
            k = np.minimum(rng.integers(lo, hi + 1, size=n), self._row_ends[start] - 1 - start)  # >= lo
            goal = start + k
        steps = np.arange(hi)
        mask = steps[None] < k[:, None]
        rows = start[:, None] + np.minimum(steps[None], k[:, None] - 1)  # padding repeats the last real step
        picked = start[:, None] + (rng.random((n, self.plan_steps)) * k[:, None]).astype(np.int64)
        d = self.demos
        t = lambda a: torch.as_tensor(a, device=device)  # noqa: E731
        return PlanBatch(t(d.obs[rows]), t(d.actions[rows]), t(mask), t(d.obs[goal]), t(d.obs[d.hist[picked]]),
                         t(d.actions[picked]))
