"""Collect the per-suite lifelong benchmark results into one table (all suites x algorithms).

::

    python benchmarks/lifelong_table.py        # reads benchmarks/results/lifelong_<suite>.json for the 4 suites
    python benchmarks/lifelong_table.py --out /tmp/table    # the same table, written elsewhere (no --debug: it
                                                            # trains nothing and takes a second)

Reads what ``benchmarks/lifelong_suite.py`` wrote for each suite and writes
``benchmarks/results/lifelong_all.json`` and ``lifelong_all.md``: the FWT/NBT/AUC/final-success table
(mean ± s.e. over seeds, as measured), each suite's protocol, LIBERO's expected orderings checked per suite,
and the wall-clock per run. Nothing is recomputed or filtered: every number comes from the suite files.

``--from-runs SUITE --budget '{...}'`` first writes ``lifelong_<SUITE>.json`` from the finished run folders
``runs/bench-lifelong/lifelong-<SUITE>-<algo>-*/`` (the latest finished one per algorithm), for a suite whose
algorithms were run as separate ``lifelong_suite.py --algos ...`` processes; the file says so (``partial``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SUITES = ("tabletop-spatial", "tabletop-object", "tabletop-goal", "tabletop-long")
RESULTS = Path(__file__).resolve().parent / "results"


def assemble_from_runs(suite: str, budget: dict, runs_root: Path, out_dir: Path) -> dict:
    """A suite's results file (the schema ``lifelong_suite.py`` writes) from its finished run folders."""
    from lifelong_suite import ALGOS, check_libero_ordering

    from skill_rl.fileio import atomic_write_text
    from skill_rl.lifelong.protocol import results_table

    runs, rows, tasks = {}, [], []
    for algo in ALGOS:
        done = [d for d in sorted(runs_root.glob(f"lifelong-{suite}-{algo}-*"))
                if (d / "summary.json").is_file() and (d / "results.json").is_file()]
        if not done:
            continue
        s = json.loads((done[-1] / "summary.json").read_text(encoding="utf-8"))
        r = json.loads((done[-1] / "results.json").read_text(encoding="utf-8"))
        runs[algo] = {"run_dir": str(done[-1]), "wall_s": s["wall_s"], "train_s": s["train_s"],
                      "eval_s": s["eval_s"], "aggregate": s["aggregate"], "seeds": r["seeds"]}
        rows.append({"suite": suite, "algo": algo, "n_seeds": len(r["seeds"]), "aggregate": s["aggregate"]})
        tasks = r["tasks"]
    ordering = check_libero_ordering(runs)
    missing = [a for a in ALGOS if a not in runs]
    out = {"suite": suite, "tasks": tasks, "budget": budget, "table_markdown": results_table(rows), "runs": runs,
           "libero_ordering": ordering, "eval_speedup": None,
           "total_wall_s": round(sum(r["wall_s"] for r in runs.values()), 1),
           "partial": f"assembled from finished run folders; algorithms missing: {missing}"}
    atomic_write_text(out_dir / f"lifelong_{suite}.json", json.dumps(out, indent=2) + "\n")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suites", default=",".join(SUITES))
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--from-runs", default="", help="first assemble this suite's results file from its run folders")
    p.add_argument("--budget", default="{}", help="the protocol of those runs (JSON), recorded in the file")
    p.add_argument("--runs-root", default=str(Path("runs") / "bench-lifelong"))
    p.add_argument("--out", default="", help="folder for lifelong_all.{json,md} (default: --results)")
    args = p.parse_args()
    if args.from_runs:
        assemble_from_runs(args.from_runs, json.loads(args.budget), Path(args.runs_root), Path(args.results))

    from skill_rl.fileio import atomic_write_text
    from skill_rl.lifelong.protocol import results_table

    folder = Path(args.results)
    suites, rows, missing = {}, [], []
    for name in args.suites.split(","):
        path = folder / f"lifelong_{name}.json"
        if not path.is_file():
            missing.append(name)
            continue
        suites[name] = json.loads(path.read_text(encoding="utf-8"))
        for algo, run in suites[name]["runs"].items():
            rows.append({"suite": name, "algo": algo, "n_seeds": len(run["seeds"]), "aggregate": run["aggregate"]})
    md = ["# Lifelong benchmark: all suites x algorithms", ""]
    if missing:
        md += [f"**Missing suites** (no results file): {', '.join(missing)}", ""]
    md += ["Mean ± standard error over seeds; written by `benchmarks/lifelong_table.py` from "
           "`benchmarks/results/lifelong_<suite>.json`.", "", results_table(rows), "## Protocol per suite", "",
           "| suite | tasks | demos/task | epochs/task | eval every | rollouts | max steps | PackNet post-prune epochs "
           "| seeds |", "|---|---|---|---|---|---|---|---|---|"]
    for name, res in suites.items():
        b = res["budget"]
        md.append(f"| {name} | {len(res['tasks'])}: {', '.join(res['tasks'])} | {b['n_demos']} | {b['epochs']} | "
                  f"{b['eval_every']} | {b['eval_rollouts']} | {b['max_steps']} | {b['post_prune_epochs']} | "
                  f"{b['seeds']} |")
    labels: list[str] = []
    for res in suites.values():
        for o in res["libero_ordering"]:
            if o["expected"] not in labels:
                labels.append(o["expected"])
    md += ["", "## LIBERO's expected orderings, as measured (✓ holds, ✗ does not)", "",
           "| expected | " + " | ".join(suites) + " | holds in |", "|---|" + "---|" * (len(suites) + 1)]
    ordering_summary = {}
    for label in labels:
        cells, n_hold, n = [], 0, 0
        for res in suites.values():
            o = next((x for x in res["libero_ordering"] if x["expected"] == label), None)
            if o is None or o["holds"] is None:
                cells.append("-")
                continue
            n += 1
            n_hold += bool(o["holds"])
            a, b = o["measured"]
            cells.append(f"{'✓' if o['holds'] else '✗'} {a:.2f} vs {b:.2f}")
        ordering_summary[label] = {"holds": n_hold, "of": n}
        md.append(f"| {label} | " + " | ".join(cells) + f" | {n_hold}/{n} |")
    md += ["", "## Wall-clock per run (seconds, all seeds; train / evaluation inside)", "",
           "| suite | " + " | ".join(next(iter(suites.values()))["runs"]) + " | suite total |" if suites else "",
           "|---|" + "---|" * (len(next(iter(suites.values()))["runs"]) + 1) if suites else ""]
    for name, res in suites.items():
        cells = [f"{r['wall_s']:.0f} ({r['train_s']:.0f} / {r['eval_s']:.0f})" for r in res["runs"].values()]
        md.append(f"| {name} | " + " | ".join(cells) + f" | {res['total_wall_s']:.0f} |")
    speed = {n: r["eval_speedup"] for n, r in suites.items() if r.get("eval_speedup")}
    if speed:
        md += ["", "## Evaluation speed-up (processes vs in-process)", ""]
        for n, s in speed.items():
            md.append(f"* {n}: {s['workers']} workers, {s['tasks']} tasks x {s['rollouts_per_task']} rollouts: "
                      f"median **{s['speedup_median']:.2f}x** (rounds {', '.join(f'{x:.2f}' for x in s['speedup_rounds'])}; "
                      f"serial {', '.join(f'{x:.1f}' for x in s['serial_s'])} s, parallel "
                      f"{', '.join(f'{x:.1f}' for x in s['parallel_s'])} s; same results: {s['same_results']})")
    text = "\n".join(md) + "\n"
    out = {"suites": list(suites), "missing": missing, "rows": rows, "table_markdown": results_table(rows),
           "budgets": {n: r["budget"] for n, r in suites.items()},
           "tasks": {n: r["tasks"] for n, r in suites.items()},
           "libero_ordering": {n: r["libero_ordering"] for n, r in suites.items()},
           "ordering_summary": ordering_summary,
           "wall_s": {n: {a: {k: run[k] for k in ("wall_s", "train_s", "eval_s")} for a, run in r["runs"].items()}
                      for n, r in suites.items()},
           "suite_total_wall_s": {n: r["total_wall_s"] for n, r in suites.items()},
           "eval_speedup": speed}
    out_dir = Path(args.out or folder)
    atomic_write_text(out_dir / "lifelong_all.md", text)
    atomic_write_text(out_dir / "lifelong_all.json", json.dumps(out, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
