#!/usr/bin/env python
"""The whole-suite lifelong table: 4 suites x 10 tasks x 5 algorithms x 3 seeds, resumable, on one CPU core.

::

    # the whole matrix (hours), in the background on idle CPU only; rerun the same line to resume
    OMP_NUM_THREADS=1 nohup nice -n 19 python benchmarks/lifelong_full.py --work runs/lifelong_full \
        > runs/lifelong_full/matrix.log 2>&1 &
    # two cores: one process per suite list (each skips the others' finished cells), then the whole table
    ... --suites tabletop-spatial,tabletop-goal --out /tmp/lf_a   and   ... --suites tabletop-object,tabletop-long --out /tmp/lf_b
    python benchmarks/lifelong_full.py --table-only                                 # table of finished cells
    python benchmarks/lifelong_full.py --debug --work /tmp/lf --out /tmp/lf               # seconds: smoke

Every (suite, algorithm, seed) is one cell: ``run_lifelong`` with that one seed (LIBERO's protocol, metrics
and checkpoint rule; ``skill_rl.lifelong.protocol``), its result written to ``<cells>/cells/<suite>__<algo>__
seed<s>.json`` when it finishes; ``--cells`` defaults to ``benchmarks/results/lifelong_full``, in git, so that
finished cells outlive the machine and the matrix (~30 h of one core) grows over sittings. A finished cell is
skipped; an interrupted one resumes from its run folder's last finished task (``<work>/runs/<suite>-<algo>-
seed<s>-*``, checkpoint after every task; scratch). Cells run seed by seed (every suite and algorithm of seed
100 first), so a partial matrix has a first seed everywhere. The demonstrations (50 per task, the scripted
demonstrator) are made once under ``<work>/demos/<suite>``.

After the cells (or with ``--table-only``), ``benchmarks/results/lifelong_full.{json,md}`` (``--out`` for
another folder) get, per suite x algorithm: FWT, NBT, AUC and final success as mean ± sample std over the
seeds done, every seed's values, wall-clock (train / evaluation), which cells are missing, and LIBERO's
expected orderings checked on the means and in each seed. The protocol (``PROTOCOL``, ``MAX_STEPS``) is
recorded in every cell; cells of another protocol are refused, not mixed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "osmesa")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from lifelong_suite import ALGOS, check_libero_ordering  # noqa: E402

SUITES = ("tabletop-spatial", "tabletop-object", "tabletop-goal", "tabletop-long")
SEEDS = (100, 200, 300)
RESULTS = Path(__file__).resolve().parent / "results"
# Sized to one core (docs/lifelong.md, "The whole suites"): LIBERO trains 50 epochs per task with an evaluation
# every 5 of 20 rollouts x 600 steps; here 50 epochs, every 10, 10 rollouts, horizons ~2-3x the demos' length.
# Not 30 epochs: the demos are ~35-40 steps, so 30 epochs are ~1.7k gradient steps, and a task trained from
# scratch (every suite's first) stayed at 0 % in all 10 cells of seed 100 run that way (docs/lifelong.md).
PROTOCOL = dict(n_tasks=0, n_demos=50, epochs=50, eval_every=10, eval_rollouts=10, post_prune_epochs=10)
MAX_STEPS = {"tabletop-spatial": 150, "tabletop-object": 150, "tabletop-goal": 250, "tabletop-long": 300}
LIBERO = dict(n_demos=50, epochs=50, eval_every=5, eval_rollouts=20, max_steps=600, post_prune_epochs=50)
DEBUG = dict(n_tasks=2, n_demos=2, epochs=2, eval_every=1, eval_rollouts=1, post_prune_epochs=1)
METRICS = ("fwt", "nbt", "auc", "final_success")


def protocol_of(suite: str, debug: bool) -> dict[str, Any]:
    return {**(DEBUG if debug else PROTOCOL), "max_steps": 20 if debug else MAX_STEPS.get(suite, 300)}


def cell_path(cells: Path, suite: str, algo: str, seed: int) -> Path:
    """Where a finished cell's result lives under ``cells`` (``--cells``; the tests pass a temporary folder)."""
    return cells / "cells" / f"{suite}__{algo}__seed{seed}.json"


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def same_protocol(config_yaml: Path, protocol: dict[str, Any]) -> bool:
    """Whether an unfinished run folder was started under ``protocol``: one of another (e.g. 30 epochs before the
    change to 50) is not resumed, or its cell would claim a protocol it was not trained under."""
    import yaml

    cfg = yaml.safe_load(config_yaml.read_text(encoding="utf-8")) or {}
    return all(cfg.get(k) == v for k, v in protocol.items())


def run_cell(work: Path, cells: Path, suite: str, algo: str, seed: int, protocol: dict[str, Any]) -> dict[str, Any]:
    """One (suite, algo, seed): resume its run folder (under ``work``) if one is unfinished, else start one; write
    the cell (under ``cells``)."""
    from skill_rl.fileio import atomic_write_text
    from skill_rl.lifelong.protocol import LifelongConfig, run_lifelong

    name = f"{suite}-{algo}-seed{seed}"
    runs = work / "runs"
    unfinished = [d for d in sorted(runs.glob(f"{name}-*")) if (d / "config.yaml").is_file()
                  and not (d / "summary.json").is_file() and same_protocol(d / "config.yaml", protocol)]
    if unfinished:
        cfg = LifelongConfig(resume=str(unfinished[-1]), progress=False)
    else:
        cfg = LifelongConfig(suite=suite, algo=algo, seeds=1, seed_base=seed, demos_dir=str(work / "demos" / suite),
                             run_root=str(runs), run_name=name, threads=1, progress=False, **protocol)
    t0 = time.perf_counter()
    summary = run_lifelong(cfg)
    res = json.loads((Path(summary["run_dir"]) / "results.json").read_text(encoding="utf-8"))
    (seed_result,) = res["seeds"]
    cell = {"suite": suite, "algo": algo, "seed": seed, "protocol": protocol, "tasks": res["tasks"],
            "result": seed_result, "wall_s": round(time.perf_counter() - t0, 1), "train_s": seed_result["train_s"],
            "eval_s": seed_result["eval_s"], "resumed": bool(unfinished), "run_dir": summary["run_dir"],
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "git_commit": _git_commit()}
    path = cell_path(cells, suite, algo, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(cell, indent=2) + "\n")
    return cell


def _mean_std(values: list[float]) -> dict[str, Any]:
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(v) / len(v)
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else None
    return {"mean": mean, "std": std, "n": len(v)}


def build_table(cells_root: Path, suites: list[str], algos: list[str], seeds: list[int], debug: bool) -> dict[str, Any]:
    """Every finished cell of the matrix, aggregated; missing cells listed. Raises on a mixed protocol."""
    cells: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    missing = []
    for suite in suites:
        for algo in algos:
            for seed in seeds:
                path = cell_path(cells_root, suite, algo, seed)
                if not path.is_file():
                    missing.append(f"{suite}/{algo}/seed{seed}")
                    continue
                cell = json.loads(path.read_text(encoding="utf-8"))
                if cell["protocol"] != protocol_of(suite, debug):
                    raise SystemExit(f"{path} was run with another protocol ({cell['protocol']}); move it away")
                cells.setdefault(suite, {}).setdefault(algo, {})[seed] = cell
    rows, ordering, ordering_seeds = [], {}, {}
    for suite, by_algo in cells.items():
        runs = {}
        for algo, by_seed in by_algo.items():
            per_seed = {s: {m: c["result"].get(m) for m in METRICS} for s, c in sorted(by_seed.items())}
            agg = {m: _mean_std([v[m] for v in per_seed.values()]) for m in METRICS}
            rows.append({"suite": suite, "algo": algo, "seeds": sorted(by_seed), "aggregate": agg,
                         "per_seed": per_seed,
                         "per_task_final_success": {s: c["result"].get("success_per_task") or
                                                    (c["result"]["conf"][-1] if c["result"].get("conf") else None)
                                                    for s, c in sorted(by_seed.items())},
                         "wall_s": {s: c["wall_s"] for s, c in sorted(by_seed.items())},
                         "train_s": {s: c["train_s"] for s, c in sorted(by_seed.items())},
                         "eval_s": {s: c["eval_s"] for s, c in sorted(by_seed.items())}})
            runs[algo] = {"aggregate": agg}
        ordering[suite] = check_libero_ordering(runs)
        common = sorted(set.intersection(*(set(b) for b in by_algo.values())))  # seeds every algorithm has
        checks = [check_libero_ordering({a: {"aggregate": {m: {"mean": by_algo[a][s]["result"].get(m)}
                                                           for m in METRICS}} for a in by_algo}) for s in common]
        ordering_seeds[suite] = {o["expected"]: [c[i]["holds"] for c in checks]
                                 for i, o in enumerate(ordering[suite])}
    tasks = {s: next(iter(next(iter(b.values())).values()))["tasks"] for s, b in cells.items()}
    return {"benchmark": "lifelong_full", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "debug": debug, "suites": suites, "algos": algos, "seeds": seeds,
            "protocol": {s: protocol_of(s, debug) for s in suites}, "libero_protocol": LIBERO,
            "cells_done": sum(len(r["seeds"]) for r in rows), "cells_total": len(suites) *
            len(algos) * len(seeds), "missing": missing, "tasks": tasks, "rows": rows, "libero_ordering": ordering,
            "libero_ordering_per_seed": ordering_seeds,
            "wall_s_total": round(sum(sum(r["wall_s"].values()) for r in rows), 1)}


def _fmt(a: dict[str, Any]) -> str:
    if a["mean"] is None:
        return "-"
    return f"{a['mean']:.2f}" + (f" ± {a['std']:.2f}" if a["std"] is not None else "")


def to_markdown(t: dict[str, Any]) -> str:
    done, total = t["cells_done"], t["cells_total"]
    md = ["# Lifelong benchmark: whole suites (10 tasks each) x 5 algorithms x 3 seeds", "",
          f"Written by `benchmarks/lifelong_full.py` from its per-cell results; {done}/{total} cells (suite, "
          "algorithm, seed) done" + (" — **partial**: missing " + ", ".join(t["missing"]) if t["missing"] else "")
          + ". Mean ± sample std over the seeds done.", "",
          "| suite | algo | seeds | FWT ↑ | NBT ↓ | AUC ↑ | final success ↑ |", "|---|---|---|---|---|---|---|"]
    for r in t["rows"]:
        a = r["aggregate"]
        md.append(f"| {r['suite']} | {r['algo']} | {len(r['seeds'])} | {_fmt(a['fwt'])} | {_fmt(a['nbt'])} | "
                  f"{_fmt(a['auc'])} | {_fmt(a['final_success'])} |")
    md += ["", "## Every seed (FWT / NBT / AUC / final success)", "", "| suite | algo | " +
           " | ".join(f"seed {s}" for s in t["seeds"]) + " |", "|---|---|" + "---|" * len(t["seeds"])]
    for r in t["rows"]:
        cells = []
        for s in t["seeds"]:
            v = r["per_seed"].get(s) or r["per_seed"].get(str(s))
            cells.append("-" if v is None else " / ".join("-" if v[m] is None else f"{v[m]:.2f}" for m in METRICS))
        md.append(f"| {r['suite']} | {r['algo']} | " + " | ".join(cells) + " |")
    md += ["", "## Protocol (one CPU core) against LIBERO's", "",
           "| | demos/task | epochs/task | eval every | rollouts | max steps | PackNet post-prune epochs |",
           "|---|---|---|---|---|---|---|"]
    for s, p in t["protocol"].items():
        md.append(f"| {s} | {p['n_demos']} | {p['epochs']} | {p['eval_every']} | {p['eval_rollouts']} | "
                  f"{p['max_steps']} | {p['post_prune_epochs']} |")
    lp = t["libero_protocol"]
    md.append(f"| LIBERO | {lp['n_demos']} | {lp['epochs']} | {lp['eval_every']} | {lp['eval_rollouts']} | "
              f"{lp['max_steps']} | {lp['post_prune_epochs']} |")
    labels = []
    for o in t["libero_ordering"].values():
        labels += [x["expected"] for x in o if x["expected"] not in labels]
    suites = list(t["libero_ordering"])
    md += ["", "## LIBERO's expected orderings, as measured on the means (✓ holds, ✗ does not; in brackets: "
           "the seeds where it holds)", "", "| expected | " + " | ".join(suites) + " |", "|---|" + "---|" * len(suites)]
    for label in labels:
        cells = []
        for s in suites:
            o = next((x for x in t["libero_ordering"][s] if x["expected"] == label), None)
            per = t["libero_ordering_per_seed"][s].get(label, [])
            if o is None or o["holds"] is None:
                cells.append("-")
                continue
            a, b = o["measured"]
            cells.append(f"{'✓' if o['holds'] else '✗'} {a:.2f} vs {b:.2f} ({sum(bool(x) for x in per)}/{len(per)})")
        md.append(f"| {label} | " + " | ".join(cells) + " |")
    md += ["", "## Wall-clock per cell (seconds, mean over seeds done: total (train / evaluation))", "",
           "| suite | algo | wall | train | evaluation |", "|---|---|---|---|---|"]
    for r in t["rows"]:
        n = len(r["seeds"])
        md.append(f"| {r['suite']} | {r['algo']} | {sum(r['wall_s'].values()) / n:.0f} | "
                  f"{sum(r['train_s'].values()) / n:.0f} | {sum(r['eval_s'].values()) / n:.0f} |")
    md += ["", f"Sum of the finished cells' wall-clock: {t['wall_s_total']:.0f} s (niced on a shared 2-core machine: "
           "other users' load is in it).", ""]
    return "\n".join(md)


def write_table(cells: Path, out: Path, suites: list[str], algos: list[str], seeds: list[int], debug: bool) -> dict:
    from skill_rl.fileio import atomic_write_text

    t = build_table(cells, suites, algos, seeds, debug)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "lifelong_full.json", json.dumps(t, indent=2) + "\n")
    atomic_write_text(out / "lifelong_full.md", to_markdown(t))
    return t


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=str(Path("runs") / "lifelong-full"), help="run folders and demos (scratch)")
    p.add_argument("--cells", default="", help="folder whose cells/ holds the finished cells' results (default: "
                   "benchmarks/results/lifelong_full, kept in git so that the matrix grows over sittings and "
                   "machines; with --debug: --work)")
    p.add_argument("--suites", default=",".join(SUITES))
    p.add_argument("--algos", default=",".join(ALGOS))
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    p.add_argument("--table-only", action="store_true", help="only write the table of the finished cells")
    p.add_argument("--debug", action="store_true", help="2 tasks, 2 demos, 2 epochs, 1 rollout of 20 steps")
    p.add_argument("--out", default=str(RESULTS), help="folder for lifelong_full.{json,md}")
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)
    work = Path(args.work)
    cells = Path(args.cells) if args.cells else work if args.debug else RESULTS / "lifelong_full"
    suites, algos = args.suites.split(","), args.algos.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    unknown = sorted(set(algos) - set(ALGOS))
    if unknown:
        raise SystemExit(f"unknown algorithms {unknown}; known: {', '.join(ALGOS)}")
    if not args.table_only:
        from skill_rl.lifelong.demos import generate_demos
        from skill_rl.lifelong.suites import get_suite

        for suite in suites:
            proto = protocol_of(suite, args.debug)
            generate_demos(get_suite(suite).subset(proto["n_tasks"]), work / "demos" / suite, proto["n_demos"],
                           progress=False)
        for seed in seeds:
            for suite in suites:
                for algo in algos:
                    if cell_path(cells, suite, algo, seed).is_file():
                        continue
                    print(f"{datetime.now():%H:%M:%S} start {suite} {algo} seed {seed}", flush=True)
                    cell = run_cell(work, cells, suite, algo, seed, protocol_of(suite, args.debug))
                    r = cell["result"]
                    print(f"{datetime.now():%H:%M:%S} done {suite} {algo} seed {seed}: " + ", ".join(
                        f"{m} {r.get(m):.3f}" for m in METRICS if r.get(m) is not None) +
                        f" ({cell['wall_s']:.0f} s)", flush=True)
                    write_table(cells, Path(args.out), suites, algos, seeds, args.debug)
    t = write_table(cells, Path(args.out), suites, algos, seeds, args.debug)
    print(to_markdown(t))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
