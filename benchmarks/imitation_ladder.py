#!/usr/bin/env python
"""The imitation ladder of issue 18 in one table: each rung's measured run, its target and whether it holds.

    python benchmarks/imitation_ladder.py            # -> benchmarks/results/imitation_ladder.{json,md}
    python benchmarks/imitation_ladder.py --debug    # the same into a temporary folder

Each rung has many result files (pilots, plays, goal settings: ``benchmarks/README.md``); this script names the
one each rung is judged by (:data:`RUNGS`: rungs a and b on the scripted demos, c and d on the same play where both
were measured, else the best of each) and copies its mean, per-task and per-seed success and wall-clock, so that
``bc_per_task_success``, ``multitask_bc_success``, ``play_gcbc_success`` and ``play_lmp_success`` sit side by side
with the play's data-quality measures (``play_data_quality.json``). It measures nothing itself: the figures are
the cited files', which ``tests/test_claims.py`` ties to the README.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
#: key -> (results file, target, what the run was)
RUNGS: dict[str, tuple[str, float, str]] = {
    "bc_per_task_success": ("imitation.json", 0.90, "a: per-task BC on 100 scripted demos of each task (the "
                            "play scene before its cylinder got rolling friction; experts unaffected)"),
    "multitask_bc_success": ("imitation_b.json", 0.80, "b: one goal-conditioned BC policy on the same demos"),
    "play_gcbc_success": ("imitation_c_roll14.json", 0.60, "c: Play-GCBC on 14 h of DART play, rest goals"),
    "play_lmp_success": ("imitation_d_roll14_prior.json", 0.60, "d: Play-LMP on the same 14 h of play, rest-goal "
                         "windows, half of each batch's rows acted on under the proposal's plan (prior_rows=0.5)"),
}
#: Play-LMP is judged against Play-GCBC on the same play as well (the paper's ordering)
LMP_SAME_PLAY_GCBC = "imitation_c_roll14.json"


def build(results: Path) -> dict[str, Any]:
    """The ladder from the files in ``results``."""
    doc: dict[str, Any] = {"issue": 18, "sources": {}, "data_quality": None}
    for key, (name, target, what) in RUNGS.items():
        src = json.loads((results / name).read_text())
        r = src[key]
        doc[key] = {"mean": r["mean"], "target": target, "met": r["mean"] >= target, "run": what, "file": name,
                    "per_seed_mean": r["per_seed_mean"],
                    "per_task": {t: v["mean"] for t, v in r["per_task"].items()},
                    "train_wall_s_per_run": r["train_wall_s"]["per_run_mean"],
                    "gradient_steps_per_run": r["gradient_steps_per_run"], "complete": r["complete"]}
        doc["sources"][name] = {"code_rev": src["budget"].get("code_rev"), "play": src["budget"].get("play")}
    same = json.loads((results / LMP_SAME_PLAY_GCBC).read_text())["play_gcbc_success"]["mean"]
    lmp = doc["play_lmp_success"]
    lmp.update(gcbc_same_play=same, gcbc_same_play_file=LMP_SAME_PLAY_GCBC,
               met=lmp["mean"] >= lmp["target"] and lmp["mean"] >= same)
    quality = results / "play_data_quality.json"
    if quality.is_file():
        q = json.loads(quality.read_text())
        doc["data_quality"] = {"file": quality.name, "variants": [
            {k: v.get(k) for k in ("label", "segment_success_all", "action_variance", "state_diversity",
                                   "transition_diversity")} for v in q["variants"]]}
    return doc


def markdown(doc: dict[str, Any]) -> str:
    lines = ["# The imitation ladder (issue 18)", "",
             "Written by `benchmarks/imitation_ladder.py` from the cited files (3 seeds x 50 held-out episodes per "
             "task, 14 play-scene tasks).", "",
             "| rung | run | success (mean) | per seed | target | holds | file |", "|---|---|---:|---|---|---|---|"]
    for key in RUNGS:
        r = doc[key]
        seeds = " / ".join(f"{s:.1%}" for s in r["per_seed_mean"])
        target = f">= {r['target']:.0%}" + (f" and >= Play-GCBC on its play ({r['gcbc_same_play']:.1%})"
                                             if "gcbc_same_play" in r else "")
        lines.append(f"| `{key}` | {r['run']} | **{r['mean']:.1%}** | {seeds} | {target} | "
                     f"{'yes' if r['met'] else '**no**'} | `{r['file']}` |")
    if doc["data_quality"]:
        lines += ["", f"Play data quality (`{doc['data_quality']['file']}`):", "",
                  "| play | segment success | action variance | state diversity | transition diversity |",
                  "|---|---:|---:|---:|---:|"]
        for v in doc["data_quality"]["variants"]:
            lines.append(f"| {v['label']} | {v['segment_success_all']:.1%} | {v['action_variance']:.3f} | "
                         f"{v['state_diversity']:.2f} | {v['transition_diversity']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=None, help="results stem or .json path (.json and .md are written; "
                   "default benchmarks/results/imitation_ladder)")
    p.add_argument("--debug", action="store_true", help="without --out: write into a temporary folder")
    args = p.parse_args(argv)
    from skill_rl.fileio import atomic_write_text

    out = args.out or (Path(tempfile.mkdtemp(prefix="ladder-")) if args.debug else RESULTS) / "imitation_ladder"
    doc = build(RESULTS)
    atomic_write_text(out.with_suffix(".json"), json.dumps(doc, indent=1) + "\n")
    atomic_write_text(out.with_suffix(".md"), markdown(doc))
    for key in RUNGS:
        print(f"{key}: {doc[key]['mean']:.3f} ({'met' if doc[key]['met'] else 'missed'})")
    print(f"wrote {out.with_suffix('.json')} and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
