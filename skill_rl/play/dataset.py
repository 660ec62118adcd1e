"""Play datasets as HDF5 in the robomimic / LIBERO layout: a streaming writer and a validating reader.

Layout (robomimic's, so robomimic/LIBERO tools read our files and we read theirs)::

    data/                         attrs: env_args (JSON: env_name, type, env_kwargs for robomimic; env_id,
                                  obs_layout, state_layout, ... for us), total (int)
      demo_0/                     attrs: num_samples (int, T), plus optional seed / meta (JSON)
        obs/<key>                 (T, d) float32, one dataset per obs_layout field (eef_pos, cube_red_pos, ...)
        obs/flat                  (T, D) the whole observation vector in obs_layout order: a virtual dataset
                                  over the fields above (no copy), the key robomimic's EnvGym observes
        next_obs/<key>            (T, d) the observation after actions[t] (obs[t + 1]; the last row is the
                                  final observation), same keys as obs/, when the writer was given it
        actions                   (T, A) float32, action taken after observing obs[t]
        rewards                   (T,) float32
        dones                     (T,) uint8, 1 on the episode's last step (and on success steps where the
                                  writer says so: robomimic's done_mode 2)
        states                    (T, S) float64, the env's sim_state() at obs[t]: qpos ++ qvel ++ the rest
                                  of what the next step depends on (exact replay; env_args["state_layout"])
      demo_1/ ...

robomimic (0.3.0) reads these files as they are: ``SequenceDataset`` (with ``load_next_obs``), and, through
``env_args`` {"env_name", "type": 2 (gym), "env_kwargs"} and :mod:`skill_rl.play.robomimic_env`, its env tools
(``create_env_from_metadata``, ``playback_dataset``, ``run_trained_agent``).

Every dataset is chunked and gzip-compressed. The writer streams episodes (one is held in memory at a time)
into a temporary file next to the target, which replaces the target only when the writer closes cleanly
(so a crash leaves no half-written file under the final name).

The reader validates on load and raises :class:`PlayDataError` naming the file, demo and key: missing
keys, inconsistent lengths or widths, NaN/inf values, an unreadable (truncated/corrupt) file. Obs keys are
configurable, so robomimic/LIBERO files with their own keys (``robot0_eef_pos``, ``object``...) load too.

This module needs numpy and h5py only (no torch, no MuJoCo).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from skill_rl.errors import UserError
from skill_rl.fileio import atomic_path

__all__ = ["PlayData", "PlayDataError", "PlayDatasetWriter", "read_play_dataset", "robomimic_env_args", "split_obs"]

_DEMO_RE = re.compile(r"^demo_(\d+)$")

ROBOMIMIC_ENV_MODULE = "skill_rl.play.robomimic_env"  # registers our envs with `gym` when gym.make imports it
ROBOMIMIC_GYM_TYPE = 2  # robomimic.envs.env_base.EnvType.GYM_TYPE
ROBOMIMIC_TASK_SCENE_ID = "TaskScene-v0"  # a task-language scene: env_kwargs["task_text"] is the file


def robomimic_env_args(env_id: str | None, env_kwargs: Mapping[str, Any], *,
                       task_text: str | None = None) -> dict[str, Any]:
    """The keys robomimic's ``create_env_from_metadata`` reads from ``env_args``: ``env_name``, ``type``, ``env_kwargs``.

    ``env_name`` is ``"skill_rl.play.robomimic_env:<id>"`` (the id without the ``skill_rl/`` namespace: robomimic
    puts the env name into checkpoint and video file names): old Gym's ``make`` imports that module, which
    registers the adapter robomimic's ``EnvGym`` needs (see :mod:`skill_rl.play.robomimic_env`). ``env_kwargs``
    are the env's options (``TabletopConfig`` fields) without ``max_episode_steps``, which ``gym.make``
    would take for its own time limit (a wrapper on the 5-tuple step API that ``EnvGym`` cannot unpack).
    A task-language scene (``task_text``: the task file's text) has the id ``TaskScene-v0``.
    """
    if (env_id is None) == (task_text is None):
        raise ValueError("robomimic_env_args needs exactly one of env_id and task_text")
    kwargs = {k: v for k, v in env_kwargs.items() if k != "max_episode_steps"}
    if task_text is not None:
        name = ROBOMIMIC_TASK_SCENE_ID
        kwargs["task_text"] = task_text
    else:
        name = str(env_id).removeprefix("skill_rl/")
    return {"env_name": f"{ROBOMIMIC_ENV_MODULE}:{name}", "type": ROBOMIMIC_GYM_TYPE, "env_kwargs": kwargs}


class PlayDataError(UserError, ValueError):
    """A play dataset file is unreadable or invalid; the message names the file, demo and key."""


def split_obs(flat: np.ndarray, layout: Mapping[str, slice]) -> dict[str, np.ndarray]:
    """(T, D) flat observations -> ``{field: (T, d)}`` by the env's ``obs_layout``."""
    flat = np.asarray(flat)
    return {k: flat[:, s] for k, s in layout.items()}


def layout_to_json(layout: Mapping[str, slice]) -> dict[str, list[int]]:
    return {k: [s.start, s.stop] for k, s in layout.items()}


class PlayDatasetWriter:
    """Write episodes one by one to a robomimic-layout HDF5 file, atomically.

    ::

        with PlayDatasetWriter(path, env_args={"env_id": ..., "env_kwargs": {}, "obs_layout": ...}) as w:
            w.add_episode(obs={"eef_pos": (T, 3) ...}, actions=(T, A), states=(T, S))

    ``obs`` is a mapping key -> (T, d) array, or a flat (T, D) array split by ``env_args["obs_layout"]``
    (``{key: [start, stop]}`` or ``{key: slice}``). ``rewards`` default to 0 and ``dones`` to 1 on the last
    step. ``final_obs`` (the observation after the last action) adds ``next_obs``, which robomimic's
    ``SequenceDataset`` loads by default and its offline-RL algorithms need. When the layout tiles the
    observation vector, ``obs/<flat_key>`` (and ``next_obs/<flat_key>``) is a virtual dataset over the fields.
    If the ``with`` block raises, the temporary file is removed and ``path`` is left untouched.
    """

    def __init__(self, path: str | os.PathLike[str], env_args: Mapping[str, Any] | None = None, *,
                 compression: str | None = "gzip", compression_opts: int | None = 4, chunk_rows: int = 1024,
                 flat_key: str | None = "flat"):
        self.path = Path(path)
        self.env_args = dict(env_args or {})
        layout = self.env_args.get("obs_layout")
        if layout is not None:
            layout = {k: (v if isinstance(v, slice) else slice(int(v[0]), int(v[1]))) for k, v in layout.items()}
            self.env_args["obs_layout"] = layout_to_json(layout)
        self._layout: dict[str, slice] | None = layout
        # The flat key only where the fields tile [0, D) in order, so obs/<flat_key> is the env's own vector.
        bounds = [(s.start, s.stop) for s in (layout or {}).values()]
        tiles = bool(bounds) and bounds[0][0] == 0 and all(a[1] == b[0] for a, b in itertools.pairwise(bounds))
        self._flat_key = flat_key if tiles and flat_key not in (layout or {}) else None
        self._compression = compression
        self._compression_opts = compression_opts if compression == "gzip" else None
        self._chunk_rows = int(chunk_rows)
        self._ctx = atomic_path(self.path)
        tmp = self._ctx.__enter__()
        try:
            self._file = h5py.File(tmp, "w")
            self._data = self._file.create_group("data")
        except BaseException as exc:
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self.num_episodes = 0
        self.total = 0
        self._closed = False

    def _dataset(self, group: h5py.Group, name: str, array: np.ndarray) -> None:
        chunks = (min(self._chunk_rows, max(1, array.shape[0])), *array.shape[1:]) if array.ndim else None
        group.create_dataset(name, data=array, chunks=chunks, compression=self._compression,
                             compression_opts=self._compression_opts, shuffle=self._compression is not None)

    def _flat_view(self, group: h5py.Group, n: int) -> None:
        """``group/<flat_key>`` as a virtual dataset over ``group/<field>`` (same file, no copy)."""
        assert self._layout is not None and self._flat_key is not None
        width = max(s.stop for s in self._layout.values())
        vds = h5py.VirtualLayout(shape=(n, width), dtype=np.float32)
        for key, sl in self._layout.items():
            vds[:, sl] = h5py.VirtualSource(".", group[key].name, shape=(n, sl.stop - sl.start))
        group.create_virtual_dataset(self._flat_key, vds)

    def _as_fields(self, obs: Mapping[str, np.ndarray] | np.ndarray, what: str) -> dict[str, np.ndarray]:
        if isinstance(obs, Mapping):
            return {k: np.asarray(v, np.float32) for k, v in obs.items()}
        if self._layout is None:
            raise ValueError(f"a flat {what} array needs env_args['obs_layout'] to split it; pass a dict of keys")
        return {k: np.asarray(v, np.float32) for k, v in split_obs(obs, self._layout).items()}

    def add_episode(self, obs: Mapping[str, np.ndarray] | np.ndarray, actions: np.ndarray,
                    rewards: np.ndarray | None = None, dones: np.ndarray | None = None,
                    states: np.ndarray | None = None, attrs: Mapping[str, Any] | None = None, *,
                    final_obs: Mapping[str, np.ndarray] | np.ndarray | None = None,
                    extra: Mapping[str, np.ndarray] | None = None) -> str:
        """Append one episode as ``demo_<i>``; returns its name. Arrays are checked for equal lengths.

        ``final_obs``: the observation after the last action (one row: ``{key: (d,)}`` or flat ``(D,)``);
        with it ``next_obs`` is written (``obs[1:]`` then ``final_obs``). ``extra``: more per-step datasets
        (name -> (T, ...)), e.g. ``executed_actions`` where the recorded actions are not the executed ones.
        """
        if self._closed:
            raise ValueError(f"PlayDatasetWriter for {self.path} is closed")
        actions = np.asarray(actions, dtype=np.float32)
        if actions.ndim != 2 or actions.shape[0] == 0:
            raise ValueError(f"actions must be (T, A) with T >= 1, got shape {actions.shape}")
        n = actions.shape[0]
        fields = {k: v.reshape(v.shape[0], -1) if v.ndim == 1 else v for k, v in self._as_fields(obs, "obs").items()}
        rewards = np.zeros(n, np.float32) if rewards is None else np.asarray(rewards, np.float32).reshape(n)
        if dones is None:
            dones = np.zeros(n, np.uint8)
            dones[-1] = 1
        dones = np.asarray(dones, np.uint8).reshape(n)
        arrays = {f"obs/{k}": v for k, v in fields.items()}
        if final_obs is not None:
            if not isinstance(final_obs, Mapping):
                final_obs = np.asarray(final_obs, np.float32).reshape(1, -1)
            final = self._as_fields(final_obs, "final_obs")
            if set(final) != set(fields):
                raise ValueError(f"final_obs has keys {sorted(final)}, obs has {sorted(fields)}")
            for k, v in fields.items():
                last = final[k].reshape(1, *v.shape[1:])
                arrays[f"next_obs/{k}"] = np.concatenate([v[1:], last.astype(np.float32)])
        arrays.update(actions=actions, rewards=rewards, dones=dones)
        for key, arr in (extra or {}).items():
            if key in arrays or key in ("obs", "next_obs", "states"):
                raise ValueError(f"extra dataset {key!r} would replace a standard one")
            arrays[key] = np.asarray(arr)
        if states is not None:
            arrays["states"] = np.asarray(states, np.float64)
        for key, arr in arrays.items():
            if arr.shape[0] != n:
                raise ValueError(f"episode {self.num_episodes}: {key} has {arr.shape[0]} rows, actions has {n}")
        name = f"demo_{self.num_episodes}"
        group = self._data.create_group(name)
        group.create_group("obs")
        for key, arr in arrays.items():
            self._dataset(group, key, arr)
        if self._flat_key is not None and set(fields) == set(self._layout or {}):
            for prefix in ("obs", "next_obs"):
                if prefix in group:
                    self._flat_view(group[prefix], n)
        group.attrs["num_samples"] = n
        for k, v in (attrs or {}).items():
            group.attrs[k] = v if isinstance(v, int | float | str | np.integer | np.floating) else json.dumps(v)
        self.num_episodes += 1
        self.total += n
        return name

    def close(self) -> Path:
        """Write the file-level attrs and move the file into place. Returns the final path."""
        if self._closed:
            return self.path
        self._data.attrs["total"] = self.total
        self._data.attrs["env_args"] = json.dumps(self.env_args)
        self._file.close()
        self._closed = True
        self._ctx.__exit__(None, None, None)
        return self.path

    def abort(self, exc: BaseException | None = None) -> None:
        """Drop everything written; the target path is left as it was."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._file.close()
        err = exc or RuntimeError("aborted")
        with contextlib.suppress(RuntimeError, type(err)):
            self._ctx.__exit__(type(err), err, err.__traceback__)

    def __enter__(self) -> PlayDatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)


@dataclass
class PlayData:
    """A whole dataset in memory, episodes concatenated along time.

    ``obs[key]`` is (N, d) float32 over all N steps; ``actions`` (N, A); ``episode_starts``/``episode_ends``
    (E,) index the steps of each episode (end exclusive); ``states`` (N, S) or None when absent in any
    demo; ``next_obs`` like ``obs`` when asked for and present in every demo, else None; ``demo_names`` in
    file order (by demo index); ``env_args`` the parsed ``data`` attr (or {}).
    """

    obs: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    dones: np.ndarray
    episode_starts: np.ndarray
    episode_ends: np.ndarray
    demo_names: list[str]
    states: np.ndarray | None = None
    env_args: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    next_obs: dict[str, np.ndarray] | None = None

    @property
    def episode_lengths(self) -> np.ndarray:
        return self.episode_ends - self.episode_starts

    @property
    def obs_keys(self) -> list[str]:
        return list(self.obs)

    def flat_obs(self, keys: Sequence[str] | None = None) -> np.ndarray:
        """(N, sum d) concatenation of ``keys`` (default: all, in order)."""
        keys = list(keys) if keys is not None else self.obs_keys
        return np.concatenate([self.obs[k] for k in keys], axis=1)

    def episode(self, i: int) -> dict[str, Any]:
        s, e = int(self.episode_starts[i]), int(self.episode_ends[i])
        return {"obs": {k: v[s:e] for k, v in self.obs.items()}, "actions": self.actions[s:e],
                "states": None if self.states is None else self.states[s:e]}


def _read(path: Path, where: str, group: h5py.Group, key: str) -> np.ndarray:
    """``group[key]`` as an array; ``where`` ("data/demo_3" or "data/demo_3/obs") names it in errors."""
    if key not in group:
        raise PlayDataError(f"{path}: {where} has no '{key}' (it has: {', '.join(sorted(group.keys()))})")
    node = group[key]
    if not isinstance(node, h5py.Dataset):
        raise PlayDataError(f"{path}: {where}/{key} is a group, expected a dataset")
    try:
        return node[()]
    except (OSError, RuntimeError, ValueError) as exc:
        raise PlayDataError(f"{path}: {where}/{key} cannot be read (truncated or corrupt file?): {exc}") from None


def read_play_dataset(path: str | os.PathLike[str], obs_keys: Sequence[str] | None = None, *,
                      require: Sequence[str] = ("actions",), load_states: bool = True,
                      check_finite: bool = True, load_next_obs: bool = False) -> PlayData:
    """Load and validate a robomimic-layout HDF5 file (ours, robomimic's or LIBERO's).

    ``obs_keys``: which ``obs/<key>`` datasets to load (default: the ``obs_layout`` order from ``env_args``
    if present, else every low-dimensional (T,) or (T, d) key of the first demo, sorted). ``require``: per-demo datasets that must exist
    besides the obs keys (``rewards``/``dones`` are zero-filled / end-marked when absent and not required).
    ``load_next_obs``: also load ``next_obs/<key>`` for the same keys (None in the result if a demo lacks it).
    Raises :class:`PlayDataError` naming the file, demo and key for anything missing, mis-shaped or
    non-finite, and for a file that cannot be opened (not HDF5, truncated, corrupt).
    """
    p = Path(path)
    if not p.is_file():
        raise PlayDataError(f"play dataset not found: {p}")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise PlayDataError(f"{p}: cannot open as HDF5 (truncated or corrupt file?): {exc}") from None
    with f:
        try:
            if "data" not in f:
                raise PlayDataError(f"{p}: no 'data' group; expected the robomimic layout data/demo_<i>/...")
            data = f["data"]
            env_args: dict[str, Any] = {}
            if "env_args" in data.attrs:
                raw = data.attrs["env_args"]
                try:
                    env_args = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
                except ValueError as exc:
                    raise PlayDataError(f"{p}: data attr 'env_args' is not valid JSON: {exc}") from None
            demos = sorted((k for k in data.keys() if _DEMO_RE.match(k)), key=lambda k: int(k.split("_")[1]))
            if not demos:
                raise PlayDataError(f"{p}: data/ holds no demo_<i> groups (found: {sorted(data.keys())})")
            if obs_keys is None:
                layout = env_args.get("obs_layout")
                if isinstance(layout, dict) and layout:
                    obs_keys = list(layout)
                else:
                    first = data[demos[0]]
                    if "obs" not in first:
                        raise PlayDataError(f"{p}: data/{demos[0]} has no 'obs' group")
                    # low-dim keys only by default (images need a decoder; name them in obs_keys to load them)
                    obs_keys = sorted(k for k, v in first["obs"].items()
                                      if isinstance(v, h5py.Dataset) and v.ndim <= 2 and not v.is_virtual)
            obs_keys = list(obs_keys)
            if not obs_keys:
                raise PlayDataError(f"{p}: no obs keys to load")
            parts: dict[str, list[np.ndarray]] = {k: [] for k in obs_keys}
            acts, rews, dns, sts = [], [], [], []
            lengths: list[int] = []
            widths: dict[str, tuple[int, ...]] = {}
            have_states = load_states
            have_next = load_next_obs
            next_parts: dict[str, list[np.ndarray]] = {k: [] for k in obs_keys}
            for demo in demos:
                g = data[demo]
                if "obs" not in g or not isinstance(g["obs"], h5py.Group):
                    raise PlayDataError(f"{p}: data/{demo} has no 'obs' group")
                for key in require:
                    if key not in g:
                        raise PlayDataError(f"{p}: data/{demo} is missing required dataset '{key}'")
                a = _read(p, f"data/{demo}", g, "actions")
                if a.ndim != 2:
                    raise PlayDataError(f"{p}: data/{demo}/actions has shape {a.shape}, expected (T, action_dim)")
                n = a.shape[0]
                if "num_samples" in g.attrs and int(g.attrs["num_samples"]) != n:
                    raise PlayDataError(f"{p}: data/{demo}/actions has {n} rows but num_samples = "
                                        f"{int(g.attrs['num_samples'])}")
                arrays: dict[str, np.ndarray] = {"actions": a}
                for key in obs_keys:
                    if key not in g["obs"]:
                        have = ", ".join(sorted(g["obs"].keys()))
                        raise PlayDataError(f"{p}: data/{demo}/obs has no key '{key}' (it has: {have}); "
                                            f"pass obs_keys= to choose others")
                    arr = _read(p, f"data/{demo}/obs", g["obs"], key)
                    arrays[f"obs/{key}"] = arr.reshape(arr.shape[0], -1) if arr.ndim == 1 else arr
                arrays["rewards"] = _read(p, f"data/{demo}", g, "rewards") if "rewards" in g else np.zeros(n, np.float32)
                if "dones" in g:
                    arrays["dones"] = _read(p, f"data/{demo}", g, "dones")
                else:
                    d = np.zeros(n, np.uint8)
                    d[-1] = 1
                    arrays["dones"] = d
                nxt = g.get("next_obs")
                if have_next and isinstance(nxt, h5py.Group):
                    for key in obs_keys:
                        if key not in nxt:
                            raise PlayDataError(f"{p}: data/{demo}/next_obs has no key '{key}' (obs has it; "
                                                f"next_obs has: {', '.join(sorted(nxt.keys()))})")
                        arr = _read(p, f"data/{demo}/next_obs", g["next_obs"], key)
                        arr = arr.reshape(arr.shape[0], -1) if arr.ndim == 1 else arr
                        if arr.shape[1:] != arrays[f"obs/{key}"].shape[1:]:
                            raise PlayDataError(f"{p}: data/{demo}/next_obs/{key} has shape {arr.shape}, obs/{key} "
                                                f"has {arrays[f'obs/{key}'].shape}")
                        arrays[f"next_obs/{key}"] = arr
                else:
                    have_next = False
                if have_states:
                    if "states" in g:
                        arrays["states"] = _read(p, f"data/{demo}", g, "states")
                    else:
                        have_states = False
                for key, arr in arrays.items():
                    if arr.ndim == 0 or arr.shape[0] != n:
                        raise PlayDataError(f"{p}: data/{demo}/{key} has shape {arr.shape}, expected {n} rows "
                                            f"(like actions {a.shape})")
                    if key in ("rewards", "dones") and arr.ndim != 1:
                        raise PlayDataError(f"{p}: data/{demo}/{key} has shape {arr.shape}, expected ({n},)")
                    if key != "dones" and key != "rewards" and arr.ndim != 2:
                        raise PlayDataError(f"{p}: data/{demo}/{key} has shape {arr.shape}, expected ({n}, dim)")
                    if key in widths and arr.shape[1:] != widths[key]:
                        raise PlayDataError(f"{p}: data/{demo}/{key} has shape {arr.shape}; earlier demos have "
                                            f"(T, {', '.join(map(str, widths[key]))})")
                    widths.setdefault(key, arr.shape[1:])
                    if check_finite and np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
                        bad = np.argwhere(~np.isfinite(arr))[0].tolist()
                        raise PlayDataError(f"{p}: data/{demo}/{key} contains NaN or inf (first at index {bad})")
                for key in obs_keys:
                    parts[key].append(arrays[f"obs/{key}"].astype(np.float32, copy=False))
                    if have_next:
                        next_parts[key].append(arrays[f"next_obs/{key}"].astype(np.float32, copy=False))
                acts.append(a.astype(np.float32, copy=False))
                rews.append(arrays["rewards"].astype(np.float32, copy=False))
                dns.append(arrays["dones"].astype(np.uint8, copy=False))
                if have_states:
                    sts.append(arrays["states"])
                lengths.append(n)
        except PlayDataError:
            raise
        except (OSError, RuntimeError, KeyError) as exc:
            raise PlayDataError(f"{p}: cannot read (truncated or corrupt file?): {exc}") from None
    ends = np.cumsum(lengths)
    return PlayData(
        obs={k: np.concatenate(v) for k, v in parts.items()},
        actions=np.concatenate(acts), rewards=np.concatenate(rews), dones=np.concatenate(dns),
        episode_starts=ends - np.asarray(lengths), episode_ends=ends, demo_names=demos,
        states=np.concatenate(sts) if have_states and sts else None, env_args=env_args, path=str(p),
        next_obs={k: np.concatenate(v) for k, v in next_parts.items()} if have_next else None,
    )
