"""``skill-rl``: the command line. Thin on purpose: parse, load the config, call one library function, print.

Input errors (a malformed config, an unknown key or env id) print one red line and exit with status 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from skill_rl import __version__
from skill_rl.errors import UserError

app = typer.Typer(
    name="skill-rl",
    help="Robot skill learning: tabletop worlds, skill discovery, planning, execution.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

EXIT_USAGE = 2


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` as one red line on stderr; return the exit to raise (status 2)."""
    err.print(Text("error: ", style="bold red") + Text(message, style="red"), soft_wrap=True, highlight=False)
    return typer.Exit(EXIT_USAGE)


def ensure_gl_backend() -> None:
    """Pick MuJoCo's offscreen backend before mujoco is imported: osmesa on a headless Linux with libOSMesa.

    Only the CLI may do this (the library never touches the environment). A MUJOCO_GL already set, a
    display, or a missing libOSMesa leave things as they are; the demo then skips videos if it cannot render.
    """
    if "MUJOCO_GL" in os.environ or not sys.platform.startswith("linux"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    if "mujoco" in sys.modules:  # too late to choose; rendering will report the problem
        return
    if ctypes.util.find_library("OSMesa"):
        os.environ["MUJOCO_GL"] = "osmesa"


def _version(value: bool) -> None:
    if value:
        out.print(f"skill-rl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Robot skill learning: tabletop worlds, skill discovery, planning, execution."""


@app.command("envs")
def envs_cmd() -> None:
    """List the registered environment ids with a one-line description each."""
    from skill_rl import envs

    table = Table(title="skill_rl environments", title_justify="left")
    table.add_column("id", style="cyan", no_wrap=True)
    table.add_column("description")
    for env_id in envs.list_env_ids():
        table.add_row(env_id, envs.describe(env_id))
    out.print(table)


@app.command("demo")
def demo_cmd(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Config overrides key=value, e.g. demos=30 bc_steps=3000 ros=false video=false."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML config (default: built-in defaults, see configs/demo.yaml).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: 8 demos, 300 BC steps, 3 evaluation episodes.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """The whole path in minutes: scripted demos -> a BC primitive -> the library -> a plan in sim -> ROS 2."""
    ensure_gl_backend()
    from skill_rl.config import load_config
    from skill_rl.demo import DemoConfig, run_demo, stage_rows

    try:
        cfg = load_config(DemoConfig, config, [*(overrides or []), *(["debug=true"] if debug else [])])
        summary = run_demo(cfg, progress=progress)
    except UserError as exc:
        raise fail(str(exc)) from None

    table = Table(title=f"demo: {summary['call']} learned, then {Path(summary['task']).name} planned over it",
                  title_justify="left")
    table.add_column("stage", no_wrap=True)
    table.add_column("result", overflow="fold")
    table.add_column("s", justify="right", no_wrap=True)
    table.add_column("video", no_wrap=True)
    styles = {True: "green", False: "red", None: "yellow"}
    for (stage, result, seconds, video), s in zip(stage_rows(summary), summary["stages"].values(), strict=True):
        table.add_row(stage, Text(result, style=styles[s["ok"]]), seconds, video)
    out.print(table)
    if summary["video_error"]:
        out.print(Text(f"videos skipped: {summary['video_error']}", style="yellow"), soft_wrap=True)
    verdict = "the task's goal held" + (" in simulation and on the ROS 2 arm" if summary["stages"]["ros"]["ok"]
                                        else " in simulation")
    out.print(Text(f"{verdict} ({summary['elapsed_s']:.0f} s)" if summary["success"] else
                   f"the task's goal did not hold everywhere ({summary['elapsed_s']:.0f} s)",
                   style="green" if summary["success"] else "red"), soft_wrap=True)
    out.print(f"run folder: {summary['run_dir']}  (tensorboard --logdir {summary['run_dir']})", soft_wrap=True)


@app.command("discover")
def discover_cmd(
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Config overrides key=value, e.g. algo=naive_sum total_steps=50000.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML config (default: built-in defaults, see configs/slim_push.yaml).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: 300 steps, small nets, 50-step episodes.")] = False,
    resume: Annotated[
        Path | None, typer.Option("--resume", help="Run folder (latest checkpoint) or checkpoint .zip to continue.")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
    evaluate: Annotated[
        Path | None, typer.Option("--eval", help="Evaluate a finished run folder or a checkpoint .zip again (no training).")
    ] = None,
) -> None:
    """Learn skills with SLIM (multi-critic SAC or PPO) or a baseline (naive_sum, lsd, metra, diayn); checkpoint, evaluate, summarise."""
    ensure_gl_backend()
    from skill_rl.config import load_config
    from skill_rl.discovery.train import DiscoveryConfig, evaluate_run, run_discovery

    extra = [*(["debug=true"] if debug else []), *([f"resume={resume}"] if resume else [])]
    try:
        if evaluate is not None:
            summary = evaluate_run(evaluate)
            summary.update(num_timesteps="eval", completed=True, episode_returns={}, skill_policy=summary["source"])
        else:
            cfg = load_config(DiscoveryConfig, config, [*(overrides or []), *extra])
            summary = run_discovery(cfg, progress=progress)
    except UserError as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"{summary['algo']}: {summary['num_timesteps']} steps"
                        f"{'' if summary['completed'] else ' (stopped early)'}", title_justify="left")
    table.add_column("metric", no_wrap=True)
    table.add_column("value", no_wrap=True)
    for key, value in summary["eval"].items():
        table.add_row(f"eval/{key}", f"{value:.3g}")
    for term, value in summary["episode_returns"].items():
        table.add_row(f"return/{term}", f"{value:.3g}")
    out.print(table)
    out.print(f"skill policy: {summary['skill_policy']}", soft_wrap=True)
    out.print(f"run folder: {summary['run_dir']}  (tensorboard --logdir {summary['run_dir']})", soft_wrap=True)


skills_app = typer.Typer(help="Skill library: list, show, remove, import and export stored skills.", no_args_is_help=True)
app.add_typer(skills_app, name="skills")
LibraryOpt = Annotated[
    Path | None, typer.Option("--library", "-l", help="Library folder (default $SKILL_RL_LIBRARY or ~/.skill_rl/skills).")
]
VersionOpt = Annotated[int | None, typer.Option("--version", "-v", help="Version (default: the latest).")]


@skills_app.command("list")
def skills_list_cmd(library: LibraryOpt = None, all_versions: Annotated[
        bool, typer.Option("--all", "-a", help="One row per version.")] = False) -> None:
    """List the skills in a library (latest version of each, or every version with --all)."""
    from skill_rl.library import SkillLibrary
    from skill_rl.library.report import entries_table

    try:
        lib = SkillLibrary(library)
        out.print(entries_table(lib, lib.list(), all_versions))
    except UserError as exc:
        raise fail(str(exc)) from None


@skills_app.command("show")
def skills_show_cmd(name: str, version: VersionOpt = None, library: LibraryOpt = None) -> None:
    """Show one skill version: kind, specs, params, metrics, files."""
    from skill_rl.library import SkillLibrary
    from skill_rl.library.report import entry_table

    try:
        out.print(entry_table(SkillLibrary(library).get(name, version)))
    except UserError as exc:
        raise fail(str(exc)) from None


@skills_app.command("rm")
def skills_rm_cmd(name: str, version: VersionOpt = None, library: LibraryOpt = None) -> None:
    """Remove one version of a skill, or every version when --version is not given."""
    from skill_rl.library import SkillLibrary

    try:
        gone = SkillLibrary(library).remove(name, version)
    except UserError as exc:
        raise fail(str(exc)) from None
    out.print(f"removed {', '.join(e.key for e in gone)}")


@skills_app.command("export")
def skills_export_cmd(name: str, dest: Annotated[Path, typer.Argument(help="New folder, or .tar.gz/.tgz/.tar/.zip.")],
                      version: VersionOpt = None, library: LibraryOpt = None) -> None:
    """Export one skill version as a folder or an archive."""
    from skill_rl.library import SkillLibrary

    try:
        path = SkillLibrary(library).export(name, dest, version)
    except UserError as exc:
        raise fail(str(exc)) from None
    out.print(f"exported to {path}", soft_wrap=True)


@skills_app.command("add-slim")
def skills_add_slim_cmd(run: Annotated[Path, typer.Argument(help="A finished `skill-rl discover` run folder.")],
                        prefix: Annotated[str | None, typer.Option("--name", help="Name prefix (default <run_name>_<algo>).")] = None,
                        library: LibraryOpt = None) -> None:
    """Export a SLIM/discovery run's skills into the library: one TorchScript skill per z (kind slim)."""
    from skill_rl.discovery.export import export_run

    try:
        entries = export_run(run, library, prefix)
    except UserError as exc:
        raise fail(str(exc)) from None
    for e in entries:
        out.print(f"added {e.key} (z={e.params['z']})")


@skills_app.command("import")
def skills_import_cmd(src: Annotated[Path, typer.Argument(help="An exported skill folder or archive.")],
                      name: Annotated[str | None, typer.Option("--name", help="Store under this name.")] = None,
                      library: LibraryOpt = None) -> None:
    """Import an exported skill (checksums verified) as the next version of its name."""
    from skill_rl.library import SkillLibrary

    try:
        entry = SkillLibrary(library).import_(src, name)
    except UserError as exc:
        raise fail(str(exc)) from None
    out.print(f"imported {entry.key} ({entry.kind})")


@skills_app.command("add-scripted")
def skills_add_scripted_cmd(names: Annotated[list[str] | None, typer.Argument(help="Primitives (default: all).")] = None,
                            library: LibraryOpt = None) -> None:
    """Register the scripted primitives (pick_place, push, drawers, reach, lift) as skills: the default library."""
    from skill_rl.library import SkillLibrary, add_scripted_primitives

    try:
        added = add_scripted_primitives(SkillLibrary(library), names or None)
    except UserError as exc:
        raise fail(str(exc)) from None
    out.print(f"added {', '.join(e.key for e in added)}" if added else "all of them are already in the library")


@skills_app.command("reindex")
def skills_reindex_cmd(library: LibraryOpt = None) -> None:
    """Rebuild the manifest from each version's skill.json (after a corrupt or lost manifest)."""
    from skill_rl.library import SkillLibrary

    entries, problems = SkillLibrary(library).reindex()
    out.print(f"manifest rebuilt: {len(entries)} versions")
    for p in problems:
        err.print(f"skipped {p}", soft_wrap=True, highlight=False)


@skills_app.command("fit-models")
def skills_fit_models_cmd(
    overrides: Annotated[list[str] | None, typer.Argument(
        help="Config overrides key=value, e.g. skill=reach 'args={}' 'sample={xyz: [[-0.2,-0.3,0.05],[0.2,0.3,0.35]]}'.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (see FitModelsConfig).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: 8 rollouts, 30 epochs.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Fit a skill's dynamics model and success classifier in a task scene; store them in the library."""
    ensure_gl_backend()
    from skill_rl.config import load_config
    from skill_rl.planning.skill_models import FitModelsConfig, run_fit_models

    try:
        cfg = load_config(FitModelsConfig, config, [*(overrides or []), *(["debug=true"] if debug else [])])
        s = run_fit_models(cfg, progress=progress)
    except UserError as exc:
        raise fail(str(exc)) from None
    d, c = s["dynamics"], s["classifier"]
    out.print(f"{s['entry']}: {s['rollouts']} rollouts, success {s['success_rate']:.0%}; held-out error of "
              f"{', '.join(d['moving_fields'])} {d['moving_error_m']:.3f} m (nothing moves {d['moving_nothing_moves_error_m']:.3f}"
              f" m); classifier accuracy {c['heldout_accuracy']:.2f} (majority {c['majority_accuracy']:.2f})")
    out.print(f"run: {s['run_dir']}", soft_wrap=True)


@skills_app.command("train-bc")
def skills_train_bc_cmd(
    world: Annotated[str, typer.Option("--world", help="Env id (TabletopPickPlace-v0) or a *.task file.")] = "TabletopPickPlace-v0",
    primitive: Annotated[str, typer.Option("--primitive", help="Catalog primitive the policy learns to perform.")] = "pick_place",
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="Its arguments, key=value (repeat): obj=cube.")] = None,
    library: LibraryOpt = None,
    demos: Annotated[int | None, typer.Option("--demos", help="Successful scripted demos to record (default 100; "
                                                              "push 200).")] = None,
    steps: Annotated[int, typer.Option("--steps", help="Gradient steps.")] = 18000,
    seed: Annotated[int, typer.Option("--seed", help="Seeds demos, training and the held-out evaluation.")] = 0,
    name: Annotated[str | None, typer.Option("--name", help="Library name (default bc_<primitive>_<objects>).")] = None,
    eval_episodes: Annotated[int, typer.Option("--eval-episodes", help="Held-out evaluation episodes.")] = 20,
    head: Annotated[str | None, typer.Option("--head", help="Action head: gaussian, gmm or logistic (default: the "
                                                             "primitive's measured best; push: gmm).")] = None,
    action_noise: Annotated[float | None, typer.Option("--action-noise", help="DART noise std on the demos' executed "
                                                                             "actions (default 0.1; push 0.05).")] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where the run folder goes.")] = Path("runs"),
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: 4 demos, 200 steps, 3 episodes (seconds).")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Train a BC primitive from scripted demos, evaluate it on held-out seeds and store it in the library."""
    ensure_gl_backend()
    from skill_rl.imitation.bc_primitive import DEBUG_BUDGET, parse_param, train_bc_primitive
    from skill_rl.library import SkillLibrary

    try:
        params = dict(parse_param(p) for p in param or [])
        budget = DEBUG_BUDGET if debug else {"demos": demos, "steps": steps, "eval_episodes": eval_episodes}
        res = train_bc_primitive(world, primitive, params, **budget, seed=seed, library=SkillLibrary(library),
                                 name=name, out_dir=out_dir, head=head, action_noise=action_noise, progress=progress)
    except UserError as exc:
        raise fail(str(exc)) from None
    s = res.summary
    out.print(f"{s['entry']}: {primitive}({', '.join(f'{k}={v}' for k, v in s['params'].items())}) in {world}, "
              f"success {res.success_rate:.0%} on {s['eval_episodes']} held-out episodes ({s['demos']['demos']} demos, "
              f"{s['train']['steps']} steps, {s['wall_s']['total']:.0f} s); library {s['library']}", soft_wrap=True)
    out.print(f"run: {res.run_dir}", soft_wrap=True)


play_app = typer.Typer(help="Play: collect unsegmented play data, train Play-LMP / Play-GCBC, evaluate.", no_args_is_help=True)
app.add_typer(play_app, name="play")


@play_app.command("collect")
def play_collect_cmd(
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Config overrides key=value, e.g. seed=1 episode_steps=500.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML config (default: built-in, see configs/play_collect.yaml).")
    ] = None,
    hours_of_play: Annotated[
        float | None, typer.Option("--hours-of-play", help="Simulated hours of play at 20 Hz (0.01 h = 720 steps).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: 200 steps in 2 episodes.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Run the scripted player in the play scene; write robomimic-layout HDF5 and summary.json to a run folder."""
    ensure_gl_backend()
    from skill_rl.config import load_config
    from skill_rl.play.collect import PlayCollectConfig, collect_play

    extra = [*([f"hours_of_play={hours_of_play}"] if hours_of_play is not None else []), *(["debug=true"] if debug else [])]
    try:
        cfg = load_config(PlayCollectConfig, config, [*(overrides or []), *extra])
        summary = collect_play(cfg, progress=progress)
    except UserError as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"play: {summary['steps']} steps, {summary['episodes']} episodes, "
                        f"{summary['steps_per_s']:.0f} steps/s", title_justify="left")
    for col in ("primitive", "started", "timed out"):
        table.add_column(col, no_wrap=True)
    for name, n in summary["primitive_counts"].items():
        table.add_row(name, str(n), str(summary["primitive_timeouts"][name]))
    out.print(table)
    out.print(f"dataset: {summary['dataset']}", soft_wrap=True)


@play_app.command("train")
def play_train_cmd(
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Config overrides key=value, e.g. dataset=runs/play-.../play.hdf5 steps=5000.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML config (default: built-in, see configs/lmp.yaml).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: tiny nets, 50 steps, a tiny collected play set.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Train Play-LMP or Play-GCBC (algo=lmp|gcbc) on play data; write policy.pt, checkpoints and summary.json."""
    ensure_gl_backend()
    from skill_rl.config import load_config
    from skill_rl.play.train import PlayTrainConfig, train_play

    try:
        cfg = load_config(
            PlayTrainConfig, config,
            [*(overrides or []), *(["debug=true"] if debug else []), f"progress={str(progress).lower()}"],
        )
        summary = train_play(cfg)
    except UserError as exc:
        raise fail(str(exc)) from None
    out.print(f"{summary['algo']}: {summary['steps']} steps, {summary['steps_per_s']:.1f} steps/s, "
              f"nll {summary['first']['nll']:.3f} -> {summary['final']['nll']:.3f}, "
              f"kl {summary['first']['kl']:.3f} -> {summary['final']['kl']:.3f}")
    out.print(f"policy: {summary['policy']}", soft_wrap=True)


@play_app.command("eval")
def play_eval_cmd(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Config overrides key=value, e.g. lmp=runs/lmp-.../policy.pt gcbc=runs/gcbc-.../policy.pt."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML config (default: built-in, see configs/play_eval.yaml).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: 1 short episode per task (tiny policies if none).")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Per-task and average success of Play-LMP / Play-GCBC on the named play tasks: table, CSV, bar plot, videos."""
    ensure_gl_backend()
    from skill_rl.config import load_config
    from skill_rl.play.evaluate import PlayTaskEvalConfig, eval_tasks

    try:
        cfg = load_config(PlayTaskEvalConfig, config, [*(overrides or []), *(["debug=true"] if debug else []),
                                                       f"progress={str(progress).lower()}"])
        summary = eval_tasks(cfg)
    except UserError as exc:
        raise fail(str(exc)) from None
    out.print(Path(summary["table"]).read_text(encoding="utf-8"), markup=False, highlight=False)
    out.print(f"run: {summary['run_dir']}", soft_wrap=True)


@play_app.command("eval-reach")
def play_eval_reach_cmd(
    overrides: Annotated[
        list[str] | None, typer.Argument(help="Config overrides key=value, e.g. policy=runs/lmp-.../policy.pt trials=50.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML config (default: built-in, see configs/lmp_eval.yaml).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: 2 trials of 10 steps.")] = False,
) -> None:
    """Reach end-effector positions taken from play with a trained policy, against a random policy."""
    ensure_gl_backend()
    from skill_rl.config import load_config
    from skill_rl.play.train import PlayEvalConfig, eval_play

    try:
        cfg = load_config(PlayEvalConfig, config, [*(overrides or []), *(["debug=true"] if debug else [])])
        summary = eval_play(cfg)
    except UserError as exc:
        raise fail(str(exc)) from None
    out.print(f"reach from play: success {summary['success_rate']:.0%} (random {summary['random_success_rate']:.0%}), "
              f"final distance {summary['final_distance_m']:.3f} m (random {summary['random_final_distance_m']:.3f} m)")
    out.print(f"run: {summary['run_dir']}", soft_wrap=True)


@play_app.command("export")
def play_export_cmd(
    policy: Annotated[Path, typer.Argument(help="policy.pt from `skill-rl play train` (Play-LMP or Play-GCBC).")],
    name: Annotated[str, typer.Option("--name", help="Skill name (default play_lmp / play_gcbc).")] = "",
    horizon: Annotated[int, typer.Option("--horizon", help="Steps the skill runs when executed as a primitive.")] = 200,
    library: LibraryOpt = None,
) -> None:
    """Store a trained Play-LMP (kind play_lmp) or Play-GCBC (kind bc) policy in the skill library as TorchScript."""
    ensure_gl_backend()
    from skill_rl.library import SkillLibrary
    from skill_rl.play.export import export_play_policy

    try:
        entry = export_play_policy(policy, SkillLibrary(library), name=name, horizon=horizon)
    except UserError as exc:
        raise fail(str(exc)) from None
    out.print(f"stored {entry.name} v{entry.version} ({entry.kind}) in {entry.path}", soft_wrap=True)


lifelong_app = typer.Typer(help="LIBERO-style lifelong benchmark: suites, scripted demos, runs.", no_args_is_help=True)
app.add_typer(lifelong_app, name="lifelong")


@lifelong_app.command("generate")
def lifelong_generate_cmd(
    suite: Annotated[str, typer.Option("--suite", help="tabletop-spatial | tabletop-object | tabletop-goal | tabletop-long.")],
    n_tasks: Annotated[int, typer.Option("--n-tasks", help="Tasks to generate.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Generator seed.")] = 0,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder (default tasks/suites/<suite>).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: 2 tasks.")] = False,
) -> None:
    """Write a suite's task files (task language) with the procedural generator."""
    from skill_rl.lifelong.generate import write_suite

    try:
        paths = write_suite(suite, n_tasks=min(n_tasks, 2) if debug else n_tasks, seed=seed, out_dir=out_dir)
    except UserError as exc:
        raise fail(str(exc)) from None
    out.print(f"{len(paths)} task files in {paths[0].parent if paths else out_dir}", soft_wrap=True)


@lifelong_app.command("demos")
def lifelong_demos_cmd(
    overrides: Annotated[list[str] | None, typer.Argument(help="Config overrides key=value, e.g. max_steps=400.")] = None,
    suite: Annotated[str | None, typer.Option("--suite", help="Suite name (see `skill-rl lifelong run --help`).")] = None,
    n_demos: Annotated[int | None, typer.Option("--n-demos", help="Demonstrations per task (default 50).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: 2 tasks x 2 demos.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Scripted demonstrations for every task of a suite, in the play HDF5 format (one file per task)."""
    ensure_gl_backend()
    from skill_rl.config import load_config
    from skill_rl.lifelong.demos import DemosConfig, make_suite_demos

    extra = [*([f"suite={suite}"] if suite else []), *([f"n_demos={n_demos}"] if n_demos else []),
             *(["debug=true"] if debug else [])]
    try:
        summary = make_suite_demos(load_config(DemosConfig, None, [*(overrides or []), *extra]), progress=progress)
    except UserError as exc:
        raise fail(str(exc)) from None
    table = Table(title=f"{summary['suite']}: {summary['n_demos']} demos per task", title_justify="left")
    for col in ("task", "scripted success", "mean length"):
        table.add_column(col, no_wrap=True)
    for name, s in summary["tasks"].items():
        table.add_row(name, "kept" if s.get("kept") else f"{s['success_rate']:.0%}",
                      "-" if s.get("kept") else f"{s['mean_length']:.0f}")
    out.print(table)
    out.print(f"demos: {summary['demos_dir']}", soft_wrap=True)


@lifelong_app.command("run")
def lifelong_run_cmd(
    overrides: Annotated[list[str] | None, typer.Argument(help="Config overrides key=value, e.g. epochs=20 n_tasks=5.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (see configs/lifelong.yaml).")] = None,
    suite: Annotated[str | None, typer.Option("--suite", help="tabletop-spatial|object|goal|long, tabletop-micro.")] = None,
    algo: Annotated[str | None, typer.Option("--algo", help="seql | er | ewc | packnet | multitask.")] = None,
    seeds: Annotated[int | None, typer.Option("--seeds", help="Number of seeds (100, 200, 300, ...).")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Run folder to continue.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: 2 tasks, 3 demos, 2 epochs, 1 seed.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Learn a suite's tasks in sequence; write FWT/NBT/AUC, a success-matrix heatmap and curves."""
    ensure_gl_backend()
    from skill_rl.config import load_config
    from skill_rl.lifelong.protocol import LifelongConfig, run_lifelong

    extra = [*([f"suite={suite}"] if suite else []), *([f"algo={algo}"] if algo else []),
             *([f"seeds={seeds}"] if seeds else []), *([f"resume={resume}"] if resume else []),
             *(["debug=true"] if debug else []), f"progress={str(progress).lower()}"]
    try:
        summary = run_lifelong(load_config(LifelongConfig, config, [*(overrides or []), *extra]))
    except UserError as exc:
        raise fail(str(exc)) from None
    out.print(summary["table"], soft_wrap=True, highlight=False)
    out.print(f"run folder: {summary['run_dir']}  ({summary['wall_s']:.0f} s)", soft_wrap=True)


@app.command("sweep")
def sweep_cmd(
    overrides: Annotated[list[str] | None, typer.Argument(
        help="Sweep config overrides key=value, e.g. 'seeds=[0,1]' fixed.total_steps=2000 max_failures=1.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Sweep YAML, e.g. configs/sweeps/slim_weights.yaml.")] = None,
    address: Annotated[str | None, typer.Option(
        "--address", help="Ray cluster to use: auto, HOST:6379 or ray://HOST:10001 (default: a local Ray).")] = None,
    num_cpus: Annotated[int | None, typer.Option("--num-cpus", help="CPUs of the local Ray (default: all).")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Sweep folder to continue (unfinished/errored trials).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: the runner's debug mode, at most 2 trials.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show Tune's progress table.")] = True,
) -> None:
    """Grid/random search over config keys x seeds on Ray Tune (extra dist); one table and plot over all trials."""
    ensure_gl_backend()
    from skill_rl.dist.sweep import load_sweep_config, run_sweep

    extra = [*([f"address={address}"] if address else []), *([f"num_cpus={num_cpus}"] if num_cpus else []),
             *([f"resume={resume}"] if resume else []), *(["debug=true"] if debug else []),
             f"progress={str(progress).lower()}"]
    try:
        summary = run_sweep(load_sweep_config(config, [*(overrides or []), *extra]))
    except UserError as exc:
        raise fail(str(exc)) from None
    out.print(summary["table"], markup=False, highlight=False, soft_wrap=True)
    out.print(f"sweep folder: {summary['sweep_dir']}  ({summary['n_trials']} trials, {summary['n_failed']} failed, "
              f"{summary['restarts']} restarts, {summary['wall_s']:.0f} s)", soft_wrap=True)


@app.command("plan")
def plan_cmd(
    goal: Annotated[Path, typer.Option("--goal", "-g", help="Task file with the goal predicates, e.g. tasks/stack_three.task.")],
    skills: Annotated[Path | None, typer.Option("--skills", "-s", help="Skill library folder (default: the scripted primitives).")] = None,
    seed: Annotated[int, typer.Option(help="Scene seed.")] = 0,
    beam_width: Annotated[int, typer.Option(help="Beam width of the plan search.")] = 4,
    max_expansions: Annotated[int, typer.Option(help="Planning budget: states expanded per search.")] = 5000,
    video: Annotated[bool, typer.Option("--video/--no-video", help="Film the execution.")] = True,
    runs_root: Annotated[Path, typer.Option("--runs", help="Where run folders go.")] = Path("runs"),
    target: Annotated[list[str] | None, typer.Option("--target", "-t", help="State goal OBJECT=X,Y (m, world); repeatable.")] = None,
    scene_only: Annotated[bool, typer.Option("--scene-only", help="Use the task file for the scene only (goal: --target).")] = False,
    learn_effects: Annotated[int, typer.Option(help="Runs per skill to learn the effects of skills without declared ones (0: off).")] = 0,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: small video frames.")] = False,
) -> None:
    """Plan a sequence of skills for a task file's goal, run it in sim with monitoring and replanning."""
    if video:
        ensure_gl_backend()
    from skill_rl.planning.run import PlanRunConfig, run_plan_task

    cfg = PlanRunConfig(goal=str(goal), skills=str(skills) if skills else None, seed=seed, beam_width=beam_width,
                        max_expansions=max_expansions, video=video, runs_root=str(runs_root), debug=debug,
                        targets=tuple(target or ()), scene_only=scene_only, learn_effects=learn_effects)
    try:
        s = run_plan_task(cfg)
    except UserError as exc:
        raise fail(str(exc)) from None
    out.print(f"plan for {s['task']}: " + " -> ".join(s["plan"]), soft_wrap=True, highlight=False)
    out.print(f"executed: {' -> '.join(s['executed'])}", soft_wrap=True, highlight=False)
    style = "green" if s["success"] else "red"
    out.print(Text(f"{s['outcome']}: {s['reason']}", style=style), soft_wrap=True)
    out.print(f"trace: {s['trace']}  video: {s['video'] or s['video_error']}", soft_wrap=True, highlight=False)


ros_app = typer.Typer(help="ROS 2 execution layer (needs the ros extra).", no_args_is_help=True)
app.add_typer(ros_app, name="ros")


@ros_app.command("up", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def ros_up_cmd(
    ctx: typer.Context,
    config: Annotated[
        Path, typer.Option("--config", "-c", help="ROS 2 params file (one section per node; sim.yaml, real.yaml).")
    ] = Path("launch/sim.yaml"),
    skills: Annotated[Path | None, typer.Option("--skills", help="Skill library folder the skill server runs and "
                                                "the task executor plans over (default: the scripted primitives).")] = None,
    world: Annotated[str | None, typer.Option("--world", help="The simulated world for every node: a tabletop env "
                                              "id or a task file (default: the params file's).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: run one pick_place, then exit.")] = False,
) -> None:
    """Start the node graph (arm_hal, skill_server, task_executor) as processes; Ctrl-C stops them all."""
    # exec, not import: nothing outside skill_rl.ros imports it (import-linter contract).
    checkout = Path(__file__).resolve().parents[1] / "launch" / config.name
    if not config.is_file() and checkout.is_file():  # e.g. launch/sim.yaml run outside the repository root
        config = checkout  # (a wheel install has no checkout: the launcher looks in <prefix>/share/skill_rl/launch)
    extra: list[str] = []
    if skills is not None:
        if not skills.is_dir():
            raise fail(f"skill library {skills} does not exist (create it with `skill-rl skills add-scripted "
                       f"--library {skills}`)")
        lib = str(skills.resolve())
        extra += ["--set", f"skill_server.library={lib}", "--set", f"task_executor.library={lib}"]
    if world:
        extra += ["--set", f"arm_hal.task={world}", "--set", f"skill_server.world={world}",
                  "--set", f"task_executor.world={world}"]
    if debug:
        extra += ["--sequence", '[{"skill": "pick_place", "params": {"obj": "cube", "target": "region"}}]']
    os.execv(sys.executable, [sys.executable, "-m", "skill_rl.ros.up", "--config", str(config), *extra, *ctx.args])


@ros_app.command("task")
def ros_task_cmd(
    task: Annotated[str, typer.Argument(help="A task file (path or shipped name, e.g. push_scene_region.task) or "
                                        "task-language text.")],
    timeout: Annotated[float, typer.Option(help="Cancel the task after this many seconds.")] = 600.0,
) -> None:
    """Send a task to a running graph (`skill-rl ros up`): the executor plans over the library and runs it."""
    os.execv(sys.executable, [sys.executable, "-m", "skill_rl.ros.task_client", task, "--timeout", str(timeout)])


def main() -> None:
    """Console-script entry point (``skill-rl``)."""
    app()


if __name__ == "__main__":
    main()
