"""The skill library: a versioned store of primitives on local disk (stdlib + numpy; torch only when loading).

Layout under the root (default ``$SKILL_RL_LIBRARY`` or ``~/.skill_rl/skills``)::

    manifest.json                 index of every version (rebuilt from the skill.json files by reindex())
    <name>/v<version>/skill.json  the record of that version, with the sha256 of each file
    <name>/v<version>/policy.pt   TorchScript files (policy.pt, proposal.pt, dynamics.pt, classifier.pt, ...)

Why this shape: a version is written to a temporary folder and renamed into place, and the manifest is
replaced atomically, so a crash never leaves a half-written skill; versions are immutable (adding learned
models makes a new version), and every version folder carries its own record, so a corrupt or lost manifest
loses nothing (:meth:`SkillLibrary.reindex`). Mutations take an exclusive lock on ``<root>/.lock``.
"""

from __future__ import annotations

import builtins  # SkillLibrary.list shadows the builtin inside the class
import contextlib
import difflib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from skill_rl.errors import RegistryKeyError, UserError
from skill_rl.fileio import atomic_write_text

from .spec import ActionSpec, ObsSpec

__all__ = [
    "KINDS", "CorruptLibraryError", "LibraryError", "SkillEntry", "SkillLibrary", "SkillRecord", "UnknownSkillError",
    "default_library_root",
]

KINDS = ("scripted", "slim", "play_lmp", "bc")
#: Files a kind must bring (learned policies are TorchScript so loading needs no training code).
REQUIRED_FILES = {"scripted": (), "slim": ("policy.pt",), "play_lmp": ("policy.pt", "proposal.pt"), "bc": ("policy.pt",)}
MODEL_FILES = ("dynamics.pt", "classifier.pt")
FORMAT = "skill_rl.library/1"
MANIFEST = "manifest.json"
RECORD = "skill.json"
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


class LibraryError(UserError):
    """Bad input to the skill library (a name, a file, a spec); the message says what and how to fix it."""


class UnknownSkillError(LibraryError, RegistryKeyError):
    """No skill (or version) of that name; the message lists the known ones."""


class CorruptLibraryError(LibraryError):
    """The manifest, a skill.json or a skill file is unreadable or does not match its checksum."""


def default_library_root() -> Path:
    """``$SKILL_RL_LIBRARY`` if set, else ``~/.skill_rl/skills``."""
    env = os.environ.get("SKILL_RL_LIBRARY")
    return Path(env).expanduser() if env else Path.home() / ".skill_rl" / "skills"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _jsonable(value: Any, where: str) -> Any:
    """Round-trip through JSON (numpy scalars/arrays become lists); a clear error for what cannot."""
    def default(o: Any) -> Any:
        if hasattr(o, "tolist"):
            return o.tolist()
        raise TypeError(f"{type(o).__name__} is not JSON serialisable")
    try:
        return json.loads(json.dumps(value, default=default))
    except (TypeError, ValueError) as exc:
        raise LibraryError(f"{where} must be JSON-serialisable: {exc}") from None


@dataclass(frozen=True, kw_only=True)
class SkillRecord:
    """What describes a skill: kind, specs, the env it came from, parameters and metrics.

    ``params``: for ``scripted``, ``{"primitive": <catalog name>, "args": [param names], "bound": {...}}``;
    for ``slim``, ``{"z": [...], "horizon": steps}``; for ``play_lmp``, ``{"horizon", "replan_every", "goal"?}``;
    for ``bc``, ``{"horizon", "history"?}`` (history: observation frames per decision, default 1). A learned entry may add ``"implements": {"primitive": <catalog name>, "bound":
    {every parameter}}``: it is another skill for that catalog call (same preconditions, effects and success
    check; see :attr:`SkillEntry.implements`). ``version``/``created`` are filled in by :meth:`SkillLibrary.add`.
    """

    name: str
    kind: str
    env_id: str
    obs_spec: ObsSpec
    action_spec: ActionSpec
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    version: int | None = None
    created: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "version": self.version, "kind": self.kind, "env_id": self.env_id,
            "description": self.description, "created": self.created,
            "obs_spec": self.obs_spec.to_dict(), "action_spec": self.action_spec.to_dict(),
            "params": self.params, "metrics": self.metrics,
        }


@dataclass(frozen=True, kw_only=True)
class SkillEntry(SkillRecord):
    """One stored version of a skill: its record plus its folder and files (name -> sha256)."""

    version: int
    created: str
    files: dict[str, str] = field(default_factory=dict)
    path: Path

    @property
    def key(self) -> str:
        return f"{self.name}@v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **super().to_dict(), "files": dict(self.files)}

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: Path) -> SkillEntry:
        try:
            return cls(
                name=str(d["name"]), version=int(d["version"]), kind=str(d["kind"]), env_id=str(d["env_id"]),
                description=str(d.get("description", "")), created=str(d["created"]),
                obs_spec=ObsSpec.from_dict(d["obs_spec"]), action_spec=ActionSpec.from_dict(d["action_spec"]),
                params=dict(d.get("params") or {}), metrics=dict(d.get("metrics") or {}),
                files={str(k): str(v) for k, v in (d.get("files") or {}).items()}, path=Path(path),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptLibraryError(f"{path / RECORD}: not a valid skill record ({type(exc).__name__}: {exc})") from None

    # ------------------------------------------------------------------ files
    def file(self, name: str) -> Path:
        """Path of a stored file after checking it exists and matches its checksum."""
        if name not in self.files:
            raise LibraryError(f"skill {self.key} has no file {name!r} (it has: {', '.join(self.files) or 'none'})")
        path = self.path / name
        if not path.is_file():
            raise CorruptLibraryError(f"skill {self.key}: file {path} is missing; re-import or re-add the skill")
        if _sha256(path) != self.files[name]:
            raise CorruptLibraryError(f"skill {self.key}: {path} does not match its checksum (corrupt or edited); "
                                      f"re-import or re-add the skill")
        return path

    @property
    def implements(self) -> tuple[str, dict[str, Any]] | None:
        """``(catalog primitive, bound parameters)`` this entry runs, or None: a scripted entry its primitive
        (``bound`` may be partial), a learned entry the primitive it declares (``params["implements"]``)."""
        if self.kind == "scripted":
            return str(self.params.get("primitive", self.name)), dict(self.params.get("bound") or {})
        declared = self.params.get("implements")
        if not declared:
            return None
        return str(declared["primitive"]), dict(declared.get("bound") or {})

    def param_specs(self) -> tuple[Any, ...]:
        """The declared load parameters (:class:`~skill_rl.library.catalog.ParamSpec`: unit, range, kinds)."""
        from .primitives import param_specs_of

        return param_specs_of(self)

    def validate_params(self, params: dict[str, Any], kinds: dict[str, str] | None = None) -> dict[str, Any]:
        """The primitive call ``params`` make (validated; against the scene when ``kinds``, object name -> kind,
        is given), without loading anything: what a goal callback checks before anything moves. Raises
        :class:`~skill_rl.library.catalog.BadParamsError` naming the parameter, the value and what is valid."""
        from .primitives import split_params

        call, rest = split_params(self, params, kinds)
        if self.implements is not None and self.kind == "scripted" and rest:
            raise LibraryError(f"skill {self.key}: unknown parameter(s) {', '.join(sorted(rest))}")
        return call

    def check(self, env: Any, **params: Any) -> None:
        """Raise :class:`~skill_rl.library.spec.SpecMismatchError` unless this skill fits ``env`` (and
        ``BadParamsError`` for a primitive call that is invalid in its scene)."""
        from .primitives import check_fits

        check_fits(self, env, params)

    def load(self, env: Any, **params: Any) -> Any:
        """The runnable :class:`~skill_rl.library.skill.Skill` (``reset()``, ``act(obs)``, ``done(obs)``,
        ``success(obs)``, ``horizon``) for ``env``.

        ``params`` bind or override the stored ones (for scripted skills, the primitive's arguments, e.g.
        ``obj="cube_red", target="cube_blue"``; for play_lmp, ``goal``). Refuses an env whose spec differs.
        """
        from .primitives import load_primitive

        return load_primitive(self, env, params)

    def load_dynamics(self) -> Any | None:
        """The skill dynamics model (TorchScript) or None; see ``skill_rl.planning.skill_models`` for its I/O."""
        return self._load_script("dynamics.pt") if "dynamics.pt" in self.files else None

    def load_classifier(self) -> Any | None:
        """The initiation/success classifier (TorchScript) or None."""
        return self._load_script("classifier.pt") if "classifier.pt" in self.files else None

    def _load_script(self, name: str) -> Any:
        from .primitives import load_torchscript

        return load_torchscript(self.file(name), self.key)


class SkillLibrary:
    """A folder of versioned skills. See the module docstring for the layout and guarantees."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_library_root()

    def __repr__(self) -> str:
        return f"SkillLibrary({str(self.root)!r})"

    # ------------------------------------------------------------------ reading
    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST

    def _read_manifest(self) -> list[SkillEntry]:
        path = self.manifest_path
        if not path.exists():
            if next(self.root.glob(f"*/v*/{RECORD}"), None) is not None:
                raise CorruptLibraryError(
                    f"skill library {self.root} has skill folders but no {MANIFEST} (deleted?); nothing was changed. "
                    f"Run `skill-rl skills reindex --library {self.root}` to rebuild it from the skill.json files")
            return []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("skills"), list):
                raise ValueError(f"expected {{'format': {FORMAT!r}, 'skills': [...]}}")
            return [SkillEntry.from_dict(d, self.root / d["name"] / f"v{int(d['version'])}") for d in data["skills"]]
        except (OSError, ValueError, KeyError, TypeError, CorruptLibraryError) as exc:
            raise CorruptLibraryError(
                f"skill library manifest {path} is corrupt ({type(exc).__name__}: {exc}); nothing was changed. "
                f"Every version keeps its own skill.json, so run `skill-rl skills reindex --library {self.root}` "
                f"to rebuild the manifest (the corrupt file is kept next to it)") from None

    def list(self) -> list[SkillEntry]:
        """Every stored version, sorted by name then version."""
        return sorted(self._read_manifest(), key=lambda e: (e.name, e.version))

    def names(self) -> builtins.list[str]:
        return sorted({e.name for e in self.list()})

    def versions(self, name: str) -> builtins.list[int]:
        return sorted(e.version for e in self.list() if e.name == name)

    def get(self, name: str, version: int | None = None) -> SkillEntry:
        """The latest (or the given) version of ``name``; unknown names list the known ones."""
        entries = [e for e in self.list() if e.name == name]
        if not entries:
            names = self.names()
            close = difflib.get_close_matches(str(name), names, n=3)
            hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
            known = ", ".join(names) if names else f"the library at {self.root} is empty"
            raise UnknownSkillError(f"unknown skill {name!r}{hint}; known skills: {known}")
        if version is None:
            return max(entries, key=lambda e: e.version)
        for e in entries:
            if e.version == int(version):
                return e
        raise UnknownSkillError(f"skill {name!r} has no version {version}; versions: "
                                f"{', '.join(str(e.version) for e in sorted(entries, key=lambda e: e.version))}")

    def __contains__(self, name: object) -> bool:
        return any(e.name == name for e in self.list())

    def __len__(self) -> int:
        return len(self.list())

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def _write_manifest(self, entries: builtins.list[SkillEntry]) -> None:
        data = {"format": FORMAT, "skills": [e.to_dict() for e in sorted(entries, key=lambda e: (e.name, e.version))]}
        atomic_write_text(self.manifest_path, json.dumps(data, indent=1) + "\n")

    def add(self, record: SkillRecord, files: Mapping[str, str | os.PathLike[str]] | None = None) -> SkillEntry:
        """Store ``record`` (+ ``files``: stored name -> source path) as the next version of its name.

        ``record.version`` may ask for a specific (new) version number. The version folder is complete
        before it becomes visible, and the manifest is replaced atomically.
        """
        sources = {str(k): Path(v) for k, v in (files or {}).items()}
        self._validate(record, sources)
        with self._locked():
            entries = self._read_manifest()
            taken = [e.version for e in entries if e.name == record.name]
            # Folders of a version whose manifest update was lost still hold the number: never reuse it.
            on_disk = [int(p.name[1:]) for p in (self.root / record.name).glob("v*") if p.name[1:].isdigit()]
            version = max([0, *taken, *on_disk]) + 1 if record.version is None else int(record.version)
            if version in taken or version in on_disk or version < 1:
                raise LibraryError(f"skill {record.name!r} already has version {version} (or it is < 1); versions are "
                                   f"immutable: leave version=None to add the next one")
            final = self.root / record.name / f"v{version}"
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{record.name}-v{version}.tmp-", dir=final.parent))
            try:
                hashes = {}
                for dest, src in sources.items():
                    shutil.copyfile(src, tmp / dest)
                    hashes[dest] = _sha256(tmp / dest)
                entry = SkillEntry(
                    name=record.name, version=version, kind=record.kind, env_id=record.env_id,
                    description=record.description, created=record.created or _now(),
                    obs_spec=record.obs_spec, action_spec=record.action_spec,
                    params=_jsonable(record.params, "params"), metrics=_jsonable(record.metrics, "metrics"),
                    files=hashes, path=final,
                )
                atomic_write_text(tmp / RECORD, json.dumps(entry.to_dict(), indent=1) + "\n")
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            self._write_manifest([*entries, entry])
        return entry

    def add_files(self, name: str, files: dict[str, str | os.PathLike[str]], *, metrics: dict[str, Any] | None = None,
                  params: dict[str, Any] | None = None, version: int | None = None) -> SkillEntry:
        """A new version of ``name`` = the given (default latest) version + ``files`` (replacing same names),
        with ``metrics``/``params`` merged in. How learned models (dynamics.pt, classifier.pt) are attached."""
        base = self.get(name, version)
        merged = {fname: base.file(fname) for fname in base.files}
        merged.update({str(k): Path(v) for k, v in files.items()})
        record = SkillRecord(
            name=base.name, kind=base.kind, env_id=base.env_id, obs_spec=base.obs_spec, action_spec=base.action_spec,
            params={**base.params, **(params or {})}, metrics={**base.metrics, **(metrics or {})},
            description=base.description,
        )
        return self.add(record, merged)

    def remove(self, name: str, version: int | None = None) -> builtins.list[SkillEntry]:
        """Delete one version (or every version) of ``name``; returns what was removed."""
        with self._locked():
            entries = self._read_manifest()
            gone = [self.get(name, version)] if version is not None else [e for e in entries if e.name == name]
            if not gone:
                self.get(name)  # raises the "unknown skill" error with the known names
            keys = {(e.name, e.version) for e in gone}
            self._write_manifest([e for e in entries if (e.name, e.version) not in keys])
            for e in gone:
                shutil.rmtree(e.path, ignore_errors=True)
            folder = self.root / name
            if folder.is_dir() and not any(p for p in folder.iterdir() if not p.name.startswith(".")):
                shutil.rmtree(folder, ignore_errors=True)
        return gone

    def reindex(self) -> tuple[builtins.list[SkillEntry], builtins.list[str]]:
        """Rebuild the manifest from every ``<name>/v<N>/skill.json``; returns (entries, problems).

        A corrupt manifest is kept as ``manifest.json.corrupt-<time>``; folders whose skill.json is unreadable
        are left alone and reported, never deleted.
        """
        with self._locked():
            try:
                self._read_manifest()
            except CorruptLibraryError:
                if self.manifest_path.exists():  # keep the corrupt one for inspection; never delete it
                    self.manifest_path.replace(self.manifest_path.with_name(f"{MANIFEST}.corrupt-{int(time.time())}"))
            entries, problems = [], []
            for rec in sorted(self.root.glob(f"*/v*/{RECORD}")):
                try:
                    data = json.loads(rec.read_text(encoding="utf-8"))
                    entry = SkillEntry.from_dict(data, rec.parent)
                    if (entry.name, f"v{entry.version}") != (rec.parent.parent.name, rec.parent.name):
                        raise CorruptLibraryError(f"{rec}: says {entry.key}, which is not where it is stored")
                    entries.append(entry)
                except (OSError, ValueError, CorruptLibraryError) as exc:
                    problems.append(f"{rec}: {exc}")
            self._write_manifest(entries)
        return sorted(entries, key=lambda e: (e.name, e.version)), problems

    # ------------------------------------------------------------------ export / import
    def export(self, name: str, dest: str | os.PathLike[str], version: int | None = None) -> Path:
        """Write one version as a folder (``dest`` must not exist) or an archive (.tar.gz/.tgz/.tar/.zip)."""
        entry = self.get(name, version)
        for f in entry.files:
            entry.file(f)  # checksums: never export a corrupt skill
        dest = Path(dest).expanduser()
        top = f"{entry.name}-v{entry.version}"
        if dest.name.endswith(ARCHIVE_SUFFIXES):
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.tmp-")
            os.close(fd)
            try:
                names = [RECORD, *entry.files]
                if dest.name.endswith(".zip"):
                    with zipfile.ZipFile(tmp_name, "w", zipfile.ZIP_DEFLATED) as z:
                        for n in names:
                            z.write(entry.path / n, f"{top}/{n}")
                else:
                    mode: Literal["w", "w:gz"] = "w" if dest.name.endswith(".tar") else "w:gz"
                    with tarfile.open(tmp_name, mode) as t:
                        for n in names:
                            t.add(entry.path / n, f"{top}/{n}")
                os.chmod(tmp_name, 0o644)
                os.replace(tmp_name, dest)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            return dest
        if dest.exists():
            raise LibraryError(f"export destination {dest} already exists; give a new folder or an archive name "
                               f"ending in {', '.join(ARCHIVE_SUFFIXES)}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        try:
            for n in [RECORD, *entry.files]:
                shutil.copyfile(entry.path / n, tmp / n)
            os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return dest

    def import_(self, src: str | os.PathLike[str], name: str | None = None) -> SkillEntry:
        """Add an exported skill (folder with skill.json, or archive) as the next version of its name
        (or of ``name``). Checksums are verified first; a bad archive adds nothing."""
        src = Path(src).expanduser()
        if not src.exists():
            raise LibraryError(f"cannot import {src}: no such file or folder")
        with tempfile.TemporaryDirectory(prefix=".import-", dir=self._scratch_dir()) as tmp:
            folder = self._unpack(src, Path(tmp)) if src.is_file() else src
            rec = folder / RECORD
            if not rec.is_file():
                raise LibraryError(f"cannot import {src}: no {RECORD} in it (export a skill with `skill-rl skills export`)")
            try:
                data = json.loads(rec.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CorruptLibraryError(f"cannot import {src}: {RECORD} is unreadable ({exc})") from None
            entry = SkillEntry.from_dict(data, folder)
            for fname, digest in entry.files.items():
                path = folder / fname
                if not path.is_file() or _sha256(path) != digest:
                    raise CorruptLibraryError(f"cannot import {src}: {fname} is missing or does not match its checksum")
            record = SkillRecord(
                name=name or entry.name, kind=entry.kind, env_id=entry.env_id, obs_spec=entry.obs_spec,
                action_spec=entry.action_spec, params=entry.params, description=entry.description,
                metrics={**entry.metrics, "imported_from": {"name": entry.name, "version": entry.version,
                                                            "created": entry.created}},
            )
            return self.add(record, {f: folder / f for f in entry.files})

    def _scratch_dir(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root

    @staticmethod
    def _unpack(src: Path, into: Path) -> Path:
        """Extract an archive safely (no absolute paths, no ``..``, no links); return its one top folder."""
        try:
            if src.name.endswith(".zip"):
                with zipfile.ZipFile(src) as z:
                    for n in z.namelist():
                        if n.startswith("/") or ".." in Path(n).parts:
                            raise LibraryError(f"cannot import {src}: unsafe path {n!r} in the archive")
                    z.extractall(into)
            elif src.name.endswith((".tar.gz", ".tgz", ".tar")):
                with tarfile.open(src) as t:
                    t.extractall(into, filter="data")
            else:
                raise LibraryError(f"cannot import {src}: not a skill folder or an archive ({', '.join(ARCHIVE_SUFFIXES)})")
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
            raise CorruptLibraryError(f"cannot import {src}: unreadable archive ({type(exc).__name__}: {exc})") from None
        if (into / RECORD).is_file():
            return into
        tops = [p for p in into.iterdir() if p.is_dir()]
        if len(tops) != 1:
            raise LibraryError(f"cannot import {src}: expected one skill folder in the archive, found {len(tops)}")
        return tops[0]

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _validate(record: SkillRecord, files: dict[str, Path]) -> None:
        if not isinstance(record.name, str) or not _NAME.match(record.name):
            raise LibraryError(f"invalid skill name {record.name!r}: use letters, digits, '_', '-', '.' "
                               f"(start with a letter or digit, at most 100 characters)")
        if record.kind not in KINDS:
            raise LibraryError(f"skill {record.name!r}: unknown kind {record.kind!r}; kinds: {', '.join(KINDS)}")
        if not isinstance(record.obs_spec, ObsSpec) or not isinstance(record.action_spec, ActionSpec):
            raise LibraryError(f"skill {record.name!r}: obs_spec/action_spec must be ObsSpec/ActionSpec "
                               f"(skill_rl.library.spec_of_env(env) gives both)")
        if record.kind != "scripted" and record.obs_spec.dim is None:
            raise LibraryError(f"skill {record.name!r}: a learned ({record.kind}) skill needs an exact obs_spec.dim")
        for fname, src in files.items():
            if not _FILE.match(fname) or fname == RECORD:
                raise LibraryError(f"skill {record.name!r}: invalid stored file name {fname!r} (a plain name, not "
                                   f"{RECORD})")
            if not src.is_file():
                raise LibraryError(f"skill {record.name!r}: file {src} (for {fname}) does not exist")
        history = record.params.get("history", 1)
        if record.kind == "bc" and (isinstance(history, bool) or not isinstance(history, int) or history < 1):
            raise LibraryError(f"skill {record.name!r}: params['history'] (observation frames per decision) must be "
                               f"an integer >= 1, got {history!r}")
        missing = [f for f in REQUIRED_FILES[record.kind] if f not in files]
        if missing:
            raise LibraryError(f"skill {record.name!r}: a {record.kind} skill needs file(s) {', '.join(missing)} "
                               f"(TorchScript, torch.jit.save)")
        SkillLibrary._validate_call(record)

    @staticmethod
    def _validate_call(record: SkillRecord) -> None:
        """A scripted record's primitive, or a learned record's ``implements``, must be a valid catalog call."""
        from .catalog import BadParamsError, primitive

        declared = record.params.get("implements")
        if record.kind == "scripted":
            name, bound, partial = record.params.get("primitive", record.name), record.params.get("bound"), True
        elif declared is not None:
            if not isinstance(declared, dict) or "primitive" not in declared:
                raise LibraryError(f"skill {record.name!r}: params['implements'] must be {{'primitive': NAME, "
                                   f"'bound': {{...}}}}, got {declared!r}")
            name, bound, partial = declared["primitive"], declared.get("bound"), False
        else:
            return
        try:
            primitive(str(name)).validate(dict(bound or {}), partial=partial)
        except BadParamsError as exc:
            raise BadParamsError(f"skill {record.name!r}: {exc}"
                                 + ("" if partial else " (a learned skill cannot read arguments: bind them all)")
                                 ) from None

