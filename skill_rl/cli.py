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
        typer.Argument(help="Config overrides key=value, e.g. episodes=2 'tasks=[TabletopLift]' video=false."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML config (default: built-in defaults, see configs/demo.yaml).")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: one episode per task.")] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Run the scripted experts on the tabletop tasks; log metrics, film one episode per task, summarise."""
    ensure_gl_backend()
    from skill_rl.config import load_config
    from skill_rl.demo import DemoConfig, run_demo

    try:
        cfg = load_config(DemoConfig, config, [*(overrides or []), *(["debug=true"] if debug else [])])
        summary = run_demo(cfg, progress=progress)
    except UserError as exc:
        raise fail(str(exc)) from None

    n = summary["episodes_per_task"]
    table = Table(title=f"demo results ({n} episode{'s' if n != 1 else ''} per task; return and steps are means)",
                  title_justify="left")
    for col in ("task", "success", "return", "steps", "video"):
        table.add_column(col, no_wrap=True)
    for task, r in summary["tasks"].items():
        table.add_row(
            task, f"{r['success_rate']:.0%}", f"{r['mean_return']:.1f}", f"{r['mean_length']:.0f}", r["video"] or "-"
        )
    out.print(table)
    if summary["video_error"]:
        out.print(Text(f"videos skipped: {summary['video_error']}", style="yellow"), soft_wrap=True)
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
) -> None:
    """Learn skills with SLIM (multi-critic SAC) or a baseline (naive_sum, lsd, diayn); checkpoint, evaluate, summarise."""
    from skill_rl.config import load_config
    from skill_rl.discovery.train import DiscoveryConfig, run_discovery

    extra = [*(["debug=true"] if debug else []), *([f"resume={resume}"] if resume else [])]
    try:
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


ros_app = typer.Typer(help="ROS 2 execution layer (needs the ros extra).", no_args_is_help=True)
app.add_typer(ros_app, name="ros")


@ros_app.command("up", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def ros_up_cmd(
    ctx: typer.Context,
    config: Annotated[
        Path, typer.Option("--config", "-c", help="ROS 2 params file (one section per node).")
    ] = Path("launch/sim.yaml"),
    debug: Annotated[bool, typer.Option("--debug", help="Tiny mode: run pick_place once, then exit.")] = False,
) -> None:
    """Start the node graph (arm_hal, skill_server, task_executor) as processes; Ctrl-C stops them all."""
    # exec, not import: nothing outside skill_rl.ros imports it (import-linter contract).
    sequence = ["--sequence", '[{"skill": "pick_place"}]'] if debug else []
    os.execv(sys.executable, [sys.executable, "-m", "skill_rl.ros.up", "--config", str(config), *sequence, *ctx.args])


def main() -> None:
    """Console-script entry point (``skill-rl``)."""
    app()


if __name__ == "__main__":
    main()
