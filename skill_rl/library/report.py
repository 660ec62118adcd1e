"""Rich tables of library entries, for ``skill-rl skills list|show`` (kept here so the CLI stays thin)."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table

from .store import SkillEntry, SkillLibrary

__all__ = ["entries_table", "entry_table"]


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"


def _models_summary(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """One line each for the skill models' held-out metrics (see skill_rl.planning.skill_models)."""
    rows = []
    dyn, clf = metrics.get("dynamics"), metrics.get("classifier")
    if isinstance(dyn, dict) and "moving_error_m" in dyn:
        rows.append(("dynamics", f"held-out error {dyn['moving_error_m']:.4f} m vs nothing moves "
                                 f"{dyn['moving_nothing_moves_error_m']:.4f} m ({', '.join(dyn.get('moving_fields', []))}; "
                                 f"{dyn.get('n_test')} held-out rollouts)"))
    if isinstance(clf, dict) and "heldout_accuracy" in clf:
        rows.append(("classifier", f"held-out accuracy {clf['heldout_accuracy']:.2f} vs majority class "
                                   f"{clf['majority_accuracy']:.2f} (success rate {clf.get('success_rate', 0):.0%})"))
    return rows


def _metrics_summary(metrics: dict[str, Any]) -> str:
    parts = []
    dyn, clf = metrics.get("dynamics"), metrics.get("classifier")
    if isinstance(dyn, dict) and "moving_error_m" in dyn:
        parts.append(f"dyn {dyn['moving_error_m']:.3f}/{dyn['moving_nothing_moves_error_m']:.3f} m")
    if isinstance(clf, dict) and "heldout_accuracy" in clf:
        parts.append(f"acc {clf['heldout_accuracy']:.2f}/{clf['majority_accuracy']:.2f}")
    for key, value in metrics.items():
        if key in ("dynamics", "classifier") and parts:
            continue
        if isinstance(value, float):
            parts.append(f"{key}={value:.3g}")
        elif isinstance(value, (int, str, bool)):
            parts.append(f"{key}={value}")
        elif isinstance(value, dict):
            parts.append(f"{key}{{{len(value)}}}")
    return _short(", ".join(parts), 60)


def entries_table(library: SkillLibrary, entries: list[SkillEntry], all_versions: bool = False) -> Table:
    """One row per skill (latest version), or per version with ``all_versions``."""
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.name] = counts.get(e.name, 0) + 1
    if not all_versions:
        latest: dict[str, SkillEntry] = {}
        for e in entries:
            if e.name not in latest or e.version > latest[e.name].version:
                latest[e.name] = e
        entries = [latest[n] for n in sorted(latest)]
    table = Table(title=f"skill library {library.root} ({len(entries)} {'versions' if all_versions else 'skills'})",
                  title_justify="left")
    for col in ("name", "version", "kind", "env", "obs/act", "models", "metrics", "created"):
        table.add_column(col, no_wrap=col in ("name", "version", "kind"))
    for e in entries:
        dim = "any" if e.obs_spec.dim is None else str(e.obs_spec.dim)
        models = ",".join(f.removesuffix(".pt") for f in ("dynamics.pt", "classifier.pt") if f in e.files) or "-"
        versions = str(e.version) if all_versions else f"{e.version} (of {counts[e.name]})"
        table.add_row(e.name, versions, e.kind, e.env_id, f"{dim}/{e.action_spec.dim}", models,
                      _metrics_summary(e.metrics), e.created[:10])
    return table


def entry_table(entry: SkillEntry) -> Table:
    """Every field of one version."""
    table = Table(title=f"skill {entry.key}", title_justify="left", show_header=False)
    table.add_column("field", style="cyan", no_wrap=True)
    table.add_column("value")
    table.add_row("kind", entry.kind)
    table.add_row("description", entry.description or "-")
    table.add_row("env", entry.env_id)
    table.add_row("created", entry.created)
    table.add_row("folder", str(entry.path))
    obs = entry.obs_spec
    table.add_row("observation", f"{'any length' if obs.dim is None else f'{obs.dim}-d'}; fields "
                  + ", ".join(f"{n}({s})" for n, s in obs.layout))
    act = entry.action_spec
    table.add_row("action", f"{act.dim}-d in [{min(act.low):g}, {max(act.high):g}]")
    for key, value in entry.params.items():
        table.add_row(f"params.{key}", _short(value, 100))
    for key, line in _models_summary(entry.metrics):
        table.add_row(key, line)
    for key, value in entry.metrics.items():
        table.add_row(f"metrics.{key}", _short(value, 100))
    for name, digest in entry.files.items():
        table.add_row(f"file {name}", f"sha256 {digest[:16]}…")
    return table
