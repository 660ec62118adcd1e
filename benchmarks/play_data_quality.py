#!/usr/bin/env python
"""Data quality of the play data the scripted player makes, label by label, beside the experts' task demos.

    nice -n 15 python benchmarks/play_data_quality.py --demos-dir <runs>/imitation_v3/demos    # ~3 min loaded
    python benchmarks/play_data_quality.py --debug --out /tmp/dq.json                          # seconds

Variants, each ``--hours`` of play from the same seed (so the same scenes): the player as the play benchmarks
used it before DART (``record=executed``, noise 0.1: the label is the noisy action that ran), and DART
(``record=intended``: the noise runs, the label is the primitive's own action) at each ``--noises`` level. For
each: the share of segments that did what they were drawn for (``segment_success``, see
``skill_rl.play.player.Player.segment_succeeded``), and the measures of ``skill_rl.play.quality`` (action
variance among alike states, state diversity, transition diversity, table cells the objects visited). With
``--demos-dir`` (one ``<task>.hdf5`` per play task, e.g. rung a's expert demos) the same measures of all the
demos together are listed as the reference. Measures are z-scored per dataset: compare rows, not units.

Writes ``benchmarks/results/play_data_quality.json`` and ``.md`` (atomically).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("OMP_NUM_THREADS", "1")

RESULTS = Path(__file__).resolve().parent / "results" / "play_data_quality.json"
MEASURES = ("action_variance", "state_diversity", "transition_diversity", "object_cells")


def _play_variant(work: Path, label: str, record: str, noise: float, hours: float, seed: int) -> dict[str, Any]:
    from skill_rl.play.collect import PlayCollectConfig, collect_play
    from skill_rl.play.dataset import read_play_dataset
    from skill_rl.play.quality import dataset_quality

    s = collect_play(PlayCollectConfig(hours_of_play=hours, action_noise=noise, record=record, seed=seed,
                                       run_root=str(work), run_name=label), progress=False)
    q = dataset_quality(read_play_dataset(s["dataset"], load_next_obs=True))
    return {"label": label, "record": record, "action_noise": noise, "steps": s["steps"], "episodes": s["episodes"],
            "collect_s": s["elapsed_s"], "segment_success_all": s["segment_success_all"],
            "segment_success": s["segment_success"], **q}


def _demos(demos_dir: Path) -> dict[str, Any]:
    from skill_rl.play.dataset import read_play_dataset
    from skill_rl.play.quality import dataset_quality
    from skill_rl.play.tasks import TASKS

    q = dataset_quality([read_play_dataset(demos_dir / f"{name}.hdf5", load_states=False) for name in TASKS])
    return {"label": "expert task demos", "record": "intended (DART demos)", "action_noise": None,
            "steps": q["rows"], "episodes": q["episodes"], "segment_success_all": 1.0, **q}


def _markdown(res: dict[str, Any]) -> str:
    lines = [f"# Play data quality ({res['created']})", "",
             f"{res['hours']} h of play per variant (seed {res['seed']}: the same scenes), measures of "
             "`skill_rl.play.quality` (k = 10 neighbours from other episodes, z-scored per dataset). "
             f"Command: `{res['command']}`.", "",
             "| data | label | noise | steps | segments that did their job | action variance | state diversity "
             "| transition diversity | object cells (2 cm) |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["variants"]:
        noise = "" if r["action_noise"] is None else f"{r['action_noise']:.2f}"
        lines.append(f"| {r['label']} | {r['record']} | {noise} | {r['steps']} | {r['segment_success_all']:.0%} | "
                     f"{r['action_variance']:.3f} | {r['state_diversity']:.2f} | {r['transition_diversity']:.2f} | "
                     f"{r['object_cells']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hours", type=float, default=0.25, help="simulated hours of play per variant")
    p.add_argument("--noises", type=float, nargs="+", default=[0.0, 0.1, 0.2], help="DART noise levels")
    p.add_argument("--demos-dir", type=Path, default=None, help="expert demos, one <task>.hdf5 per play task")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", type=Path, default=None, help="where the play files go (default: a temporary folder)")
    p.add_argument("--debug", action="store_true", help="0.01 h, one noise level")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.debug:
        args.hours, args.noises = 0.01, [0.1]

    from skill_rl.fileio import atomic_write_json, atomic_write_text

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        variants = [_play_variant(work, "play, labels = executed", "executed", 0.1, args.hours, args.seed)]
        variants += [_play_variant(work, f"play, DART {n:g}", "intended", n, args.hours, args.seed) for n in args.noises]
    if args.demos_dir is not None:
        variants.append(_demos(args.demos_dir))
    for r in variants:
        print(f"{r['label']:28s} segments {r['segment_success_all']:.0%}  " +
              "  ".join(f"{m} {r[m]:.3f}" if isinstance(r[m], float) else f"{m} {r[m]}" for m in MEASURES), flush=True)
    res = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "hours": args.hours,
           "seed": args.seed, "command": " ".join(["python", "benchmarks/play_data_quality.py", *(argv or sys.argv[1:])]),
           "wall_s": round(time.perf_counter() - t0, 1), "variants": variants}
    atomic_write_json(args.out, res)
    atomic_write_text(args.out.with_suffix(".md"), _markdown(res))
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
