"""Task language: parse/format round trip over every task file, and malformed text gives file:line:col errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from skill_rl.envs.tabletop.taskscene import CATALOGUE, ObjectDecl, PlacementRegion, TaskSpec
from skill_rl.errors import UserError
from skill_rl.planning.tasklang import TaskFileError, format_task, load_task, parse_task

TASKS = sorted((Path(__file__).resolve().parents[1] / "tasks").glob("*.task"))

EXAMPLE = """(define (problem put_red_in_drawer)
  (:language "open the drawer, put the red cube in it and close it")
  (:regions (left_area (:ranges ((-0.14 -0.22 0.0 -0.05)))) (right_area (:ranges ((-0.14 0.05 0.14 0.22)))))
  (:objects cube_red - cube_red cube_blue - cube_blue region_green - region cabinet - cabinet)
  (:init (On cube_red left_area) (On cube_blue right_area) (Close cabinet))
  (:goal (And (On cube_red cube_blue) (Open cabinet))))
"""


def test_parses_the_agreed_example():
    spec = parse_task(EXAMPLE)
    assert spec.name == "put_red_in_drawer"
    assert spec.language.startswith("open the drawer")
    assert spec.regions[0] == PlacementRegion("left_area", (-0.14, -0.22), (0.0, -0.05))
    assert spec.object("cube_blue") == ObjectDecl.of_type("cube_blue", "cube_blue")
    assert spec.object("cabinet").kind == "drawer"
    assert spec.init == (("On", "cube_red", "left_area"), ("On", "cube_blue", "right_area"), ("Close", "cabinet"))
    assert spec.goal == (("On", "cube_red", "cube_blue"), ("Open", "cabinet"))


def test_example_round_trips():
    spec = parse_task(EXAMPLE)
    assert parse_task(format_task(spec)) == spec


@pytest.mark.parametrize("path", TASKS, ids=[p.stem for p in TASKS])
def test_task_files_round_trip(path):
    spec = load_task(path)
    text = format_task(spec)
    assert parse_task(text) == spec
    assert format_task(parse_task(text)) == text


def test_at_least_five_long_horizon_tasks():
    assert sum(len(load_task(p).goal) >= 2 for p in TASKS) >= 5


def test_lowercase_bddl_style_and_multi_name_objects():
    text = """(define (problem p) (:domain robosuite) (:language "x")
      (:objects a b - cube_red r - region) (:goal (and (on a b) (in b r))))"""
    spec = parse_task(text)
    assert spec.goal == (("On", "a", "b"), ("In", "b", "r"))
    assert [o.name for o in spec.objects] == ["a", "b", "r"]


def test_catalogue_types_all_usable():
    objs = " ".join(f"o{i} - {t}" for i, t in enumerate(CATALOGUE) if t != "cabinet")
    spec = parse_task(f'(define (problem p) (:language "x") (:objects {objs} c - cabinet) (:goal (Open c)))')
    assert len(spec.objects) == len(CATALOGUE)


BAD = [
    # (text, line, col, words in the reason)
    ('(define (problem p)\n  (:language "x")\n  (:objects a - cube_purple)\n  (:goal (Open a)))', 3, 17,
     "unknown object type 'cube_purple'"),
    ('(define (problem p)\n  (:language "x")\n  (:objects a - cube_red)\n  (:goal (Onn a a)))', 4, 11,
     "unknown predicate 'Onn'"),
    ('(define (problem p)\n  (:language "x")\n  (:objects a - cube_red)\n  (:goal (On a b)))', 4, 10,
     "unknown object 'b'"),
    ('(define (problem p)\n  (:language "x")\n  (:objects a - cube_red)\n  (:goal (Open a)))', 4, 10,
     "'a' is a cube"),
    ('(define (problem p)\n  (:language "x")\n  (:objects a - cube_red)\n  (:goal (On a a))', 1, 1, "never closed"),
    ('(define (problem p)\n  (:language "x")\n  (:objects a - cube_red)))\n', 3, 27, "unbalanced"),
    ('(define (problem p)\n  (:language "x")\n  (:objectz a - cube_red)\n  (:goal (On a a)))', 3, 4,
     "unknown section ':objectz'"),
    ('(define (problem p)\n  (:language "x)\n', 2, 14, "string is not closed"),
    ('(define (problem p)\n  (:language "x")\n  (:objects a - cube_red)\n  (:init (On a nowhere))\n'
     '  (:goal (Lifted a)))', 4, 10, "neither an object nor a placement region"),
    ('(define (problem p)\n  (:language "x")\n  (:regions (r (:ranges ((0.1 0 0.0 0.2)))))\n'
     '  (:objects a - cube_red)\n  (:goal (Lifted a)))', 3, 26, "x_low < x_high"),
    ('(define (problem p)\n  (:language "x")\n  (:objects a - cube_red b)\n  (:goal (Lifted a)))', 3, 26,
     "has no type"),
    ('(define (problem p)\n  (:language "x")\n  (:objects a - cube_red))', 1, 1, "missing (:goal"),
    ("", 1, 1, "empty task file"),
]


@pytest.mark.parametrize(("text", "line", "col", "reason"), BAD, ids=[b[3][:24] for b in BAD])
def test_malformed_text_reports_file_line_col(text, line, col, reason):
    with pytest.raises(TaskFileError) as err:
        parse_task(text, source="bad.task")
    e = err.value
    assert isinstance(e, UserError)
    assert (e.line, e.col) == (line, col), str(e)
    assert reason in e.reason, str(e)
    assert str(e).startswith(f"bad.task:{line}:{col}: ")


def test_load_task_names_the_file(tmp_path):
    with pytest.raises(UserError, match="task file not found"):
        load_task(tmp_path / "missing.task")
    bad = tmp_path / "bad.task"
    bad.write_text('(define (problem p)\n  (:language "x")\n  (:objects a - cube_red)\n  (:goal (On a)))\n')
    with pytest.raises(TaskFileError, match=rf"^{bad}:4:10: bad goal atom: On takes 2"):
        load_task(bad)


def test_format_refuses_objects_outside_the_catalogue():
    spec = TaskSpec("p", "x", (ObjectDecl("a", "cube", "red", (0.03,)),), (), (), (("Lifted", "a"),))
    with pytest.raises(ValueError, match="no catalogue type"):
        format_task(spec)
