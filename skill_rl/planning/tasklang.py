"""The task language: LIBERO-BDDL-like task files -> :class:`~skill_rl.envs.tabletop.taskscene.TaskSpec`.

Why BDDL's shape: LIBERO's suites are written in it, so our suites read alike and a converter is short.
Syntax (s-expressions; ``;`` starts a comment; names are ``[A-Za-z_][A-Za-z0-9_]*``)::

    (define (problem put_red_in_drawer)
      (:language "open the drawer, put the red cube in it and close it")
      (:regions (left_area (:ranges ((-0.14 -0.22 0.0 -0.05)))))
      (:objects cube_red - cube_red cube_blue - cube_blue cabinet - cabinet)
      (:init (On cube_red left_area) (Close cabinet))
      (:goal (And (InDrawer cube_red cabinet) (Close cabinet))))

* ``(:regions (NAME (:ranges ((x_low y_low x_high y_high)))) ...)``: placement areas on the table (m, world).
* ``(:objects a b - TYPE ...)``: instances of catalogue types (``taskscene.CATALOGUE``); ``:fixtures`` is
  accepted as a synonym (LIBERO puts cabinets there). ``(:domain NAME)`` is accepted and ignored.
* ``(:init ATOM ...)``: ``On`` (to a placement region, a target region or a free object), ``Open``, ``Close``.
* ``(:goal ATOM)`` or ``(:goal (And ATOM ...))``: predicates from ``predicates.PREDICATES``. Predicate names
  and ``And`` are matched case-insensitively (LIBERO writes ``(and (on a b))``).

Every error is a :class:`TaskFileError` whose message starts with ``file:line:column:``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skill_rl.envs.tabletop.predicates import PREDICATES, check_atom
from skill_rl.envs.tabletop.taskscene import (
    CATALOGUE,
    ObjectDecl,
    PlacementRegion,
    TaskSpec,
    check_init_atom,
    object_type,
)
from skill_rl.errors import UserError

__all__ = ["TaskFileError", "format_task", "load_task", "parse_task"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_SECTIONS = (":domain", ":language", ":regions", ":objects", ":fixtures", ":init", ":goal")


class TaskFileError(UserError):
    """A malformed task file; the message is ``source:line:column: reason``."""

    def __init__(self, source: str, line: int, col: int, reason: str) -> None:
        self.source, self.line, self.col, self.reason = source, line, col, reason
        super().__init__(f"{source}:{line}:{col}: {reason}")


@dataclass
class _Tok:
    text: str
    line: int
    col: int
    quoted: bool = False


@dataclass
class _List:
    items: list[Any]
    line: int
    col: int


def _tokenize(text: str, source: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, line, col = 0, 1, 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            i, line, col = i + 1, line + 1, 1
            continue
        if c.isspace():
            i, col = i + 1, col + 1
            continue
        if c == ";":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c in "()":
            toks.append(_Tok(c, line, col))
            i, col = i + 1, col + 1
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\n":
                    raise TaskFileError(source, line, col, "string is not closed before the end of the line")
                j += 1
            if j >= n:
                raise TaskFileError(source, line, col, "string is not closed")
            toks.append(_Tok(text[i + 1 : j], line, col, quoted=True))
            col += j + 1 - i
            i = j + 1
            continue
        j = i
        while j < n and not text[j].isspace() and text[j] not in '();"':
            j += 1
        toks.append(_Tok(text[i:j], line, col))
        col += j - i
        i = j
    return toks


def _read(toks: list[_Tok], source: str) -> _List:
    """Build the nested lists; exactly one top-level form is allowed."""
    if not toks:
        raise TaskFileError(source, 1, 1, "empty task file: expected (define (problem NAME) ...)")
    stack: list[_List] = []
    top: _List | None = None
    for tok in toks:
        if tok.text == "(" and not tok.quoted:
            lst = _List([], tok.line, tok.col)
            if stack:
                stack[-1].items.append(lst)
            elif top is not None:
                raise TaskFileError(source, tok.line, tok.col, "text after the end of the (define ...) form")
            else:
                top = lst
            stack.append(lst)
        elif tok.text == ")" and not tok.quoted:
            if not stack:
                raise TaskFileError(source, tok.line, tok.col, "unbalanced ')': no '(' to close")
            stack.pop()
        else:
            if not stack:
                raise TaskFileError(source, tok.line, tok.col, f"unexpected {tok.text!r} outside (define ...)")
            stack[-1].items.append(tok)
    if stack:
        lst = stack[-1]
        raise TaskFileError(source, lst.line, lst.col, "'(' is never closed (missing ')')")
    assert top is not None
    return top


def _where(x: Any) -> tuple[int, int]:
    return x.line, x.col


def _word(x: Any, source: str, what: str) -> str:
    if not isinstance(x, _Tok) or x.quoted:
        raise TaskFileError(source, *_where(x), f"expected {what}, got a {'list' if isinstance(x, _List) else 'string'}")
    return x.text


def _name(x: Any, source: str, what: str) -> str:
    text = _word(x, source, what)
    if not _NAME.match(text):
        raise TaskFileError(source, *_where(x), f"{what} {text!r} is not a valid name (letters, digits, _)")
    return text


def _number(x: Any, source: str) -> float:
    text = _word(x, source, "a number")
    try:
        return float(text)
    except ValueError:
        raise TaskFileError(source, *_where(x), f"expected a number, got {text!r}") from None


_PRED_NAMES = {name.lower(): name for name in PREDICATES}


def _atom(x: Any, source: str) -> tuple[tuple[str, ...], _List]:
    if not isinstance(x, _List):
        raise TaskFileError(source, *_where(x), f"expected a predicate like (On a b), got {x.text!r}")
    if not x.items:
        raise TaskFileError(source, x.line, x.col, "empty predicate ()")
    head = _word(x.items[0], source, "a predicate name")
    name = _PRED_NAMES.get(head.lower())
    if name is None:
        raise TaskFileError(source, *_where(x.items[0]), f"unknown predicate {head!r}; known: {', '.join(PREDICATES)}")
    args = tuple(_name(a, source, "an object name") for a in x.items[1:])
    return (name, *args), x


def parse_task(text: str, source: str = "<string>") -> TaskSpec:
    """Parse task-file text; errors are :class:`TaskFileError` with ``source:line:col``."""
    top = _read(_tokenize(text, source), source)
    items = top.items
    if not items or not isinstance(items[0], _Tok) or items[0].text.lower() != "define":
        raise TaskFileError(source, top.line, top.col, "a task file is one (define (problem NAME) ...) form")
    if len(items) < 2 or not isinstance(items[1], _List) or len(items[1].items) != 2 \
            or _word(items[1].items[0], source, "'problem'").lower() != "problem":
        at = items[1] if len(items) > 1 else top
        raise TaskFileError(source, *_where(at), "expected (problem NAME) right after define")
    name = _name(items[1].items[1], source, "the problem name")
    language = ""
    regions: list[PlacementRegion] = []
    objects: list[ObjectDecl] = []
    init_forms: list[_List] = []
    goal_forms: list[_List] = []
    seen: dict[str, _List] = {}
    for sec in items[2:]:
        if not isinstance(sec, _List) or not sec.items:
            raise TaskFileError(source, *_where(sec), f"expected a section like (:goal ...); sections: {', '.join(_SECTIONS)}")
        key = _word(sec.items[0], source, "a section name").lower()
        if key not in _SECTIONS:
            raise TaskFileError(source, *_where(sec.items[0]), f"unknown section {key!r}; sections: {', '.join(_SECTIONS)}")
        if key in seen and key not in (":objects", ":fixtures"):
            raise TaskFileError(source, sec.line, sec.col, f"section {key} appears twice (first at line {seen[key].line})")
        seen[key] = sec
        body = sec.items[1:]
        if key == ":domain":
            continue
        if key == ":language":
            if len(body) != 1 or not isinstance(body[0], _Tok) or not body[0].quoted:
                raise TaskFileError(source, sec.line, sec.col, '(:language "...") takes one quoted string')
            language = body[0].text
        elif key == ":regions":
            for reg in body:
                regions.append(_region(reg, source))
        elif key in (":objects", ":fixtures"):
            objects += _objects(body, source, sec)
        elif key == ":init":
            init_forms = body
        else:
            goal_forms = body
    if ":goal" not in seen:
        raise TaskFileError(source, top.line, top.col, "missing (:goal ...) section")
    if ":language" not in seen:
        raise TaskFileError(source, top.line, top.col, 'missing (:language "...") section')
    partial = TaskSpec(name, language, tuple(objects), tuple(regions), (), ())
    init = []
    for form in init_forms:
        atom, where = _atom(form, source)
        try:
            check_init_atom(atom, partial)
        except ValueError as e:
            raise TaskFileError(source, where.line, where.col, f"bad init atom: {e}") from None
        init.append(atom)
    if len(goal_forms) != 1:
        sec = seen[":goal"]
        raise TaskFileError(source, sec.line, sec.col, "(:goal ...) takes one formula: an atom or (And atom ...)")
    goal_form = goal_forms[0]
    if isinstance(goal_form, _List) and goal_form.items and isinstance(goal_form.items[0], _Tok) \
            and goal_form.items[0].text.lower() == "and":
        goal_items = goal_form.items[1:]
        if not goal_items:
            raise TaskFileError(source, goal_form.line, goal_form.col, "(And) needs at least one atom")
    else:
        goal_items = [goal_form]
    goal = []
    kinds = {o.name: o.kind for o in objects}
    for form in goal_items:
        atom, where = _atom(form, source)
        try:
            check_atom(atom, kinds)
        except ValueError as e:
            raise TaskFileError(source, where.line, where.col, f"bad goal atom: {e}") from None
        goal.append(atom)
    spec = TaskSpec(name, language, tuple(objects), tuple(regions), tuple(init), tuple(goal))
    try:
        spec.validate()
    except ValueError as e:
        raise TaskFileError(source, top.line, top.col, str(e)) from None
    return spec


def _region(reg: Any, source: str) -> PlacementRegion:
    shape = "(NAME (:ranges ((x_low y_low x_high y_high))))"
    if not isinstance(reg, _List) or len(reg.items) != 2:
        raise TaskFileError(source, *_where(reg), f"a region is {shape}")
    rname = _name(reg.items[0], source, "the region name")
    rng = reg.items[1]
    if not isinstance(rng, _List) or len(rng.items) != 2 or _word(rng.items[0], source, ":ranges").lower() != ":ranges":
        raise TaskFileError(source, *_where(rng), f"region {rname!r}: expected (:ranges ((x_low y_low x_high y_high)))")
    boxes = rng.items[1]
    if not isinstance(boxes, _List) or len(boxes.items) != 1 or not isinstance(boxes.items[0], _List):
        raise TaskFileError(source, *_where(boxes), f"region {rname!r}: :ranges takes exactly one box ((x0 y0 x1 y1))")
    box = boxes.items[0]
    if len(box.items) != 4:
        raise TaskFileError(source, box.line, box.col, f"region {rname!r}: a box is 4 numbers (x_low y_low x_high y_high)")
    x0, y0, x1, y1 = (_number(v, source) for v in box.items)
    if not (x0 < x1 and y0 < y1):
        raise TaskFileError(source, box.line, box.col, f"region {rname!r}: need x_low < x_high and y_low < y_high")
    return PlacementRegion(rname, (x0, y0), (x1, y1))


def _objects(body: list[Any], source: str, sec: _List) -> list[ObjectDecl]:
    out: list[ObjectDecl] = []
    pending: list[tuple[str, _Tok]] = []
    i = 0
    while i < len(body):
        tok = body[i]
        word = _word(tok, source, "an object name or '-'")
        if word == "-":
            if not pending:
                raise TaskFileError(source, tok.line, tok.col, "'-' must follow one or more object names")
            if i + 1 >= len(body):
                raise TaskFileError(source, tok.line, tok.col, "'-' must be followed by an object type")
            tnode = body[i + 1]
            tname = _word(tnode, source, "an object type")
            if tname not in CATALOGUE:
                raise TaskFileError(source, *_where(tnode), f"unknown object type {tname!r}; catalogue: {', '.join(CATALOGUE)}")
            out += [ObjectDecl.of_type(n, tname) for n, _ in pending]
            pending = []
            i += 2
            continue
        pending.append((_name(tok, source, "the object name"), tok))
        i += 1
    if pending:
        tok = pending[-1][1]
        raise TaskFileError(source, tok.line, tok.col, f"object {pending[-1][0]!r} has no type (write NAME - TYPE)")
    return out


def shipped_task(path: str | Path) -> Path | None:
    """The task file of that name shipped with skill_rl (``skill_rl.tasks``: ``stack_three.task`` or
    ``tasks/stack_three.task``), so task names work outside a checkout; None when there is none."""
    from importlib.resources import files

    name = Path(path).name
    candidate = Path(str(files("skill_rl.tasks") / name))
    return candidate if name.endswith(".task") and candidate.is_file() else None


def load_task(path: str | Path) -> TaskSpec:
    """Read and parse a task file (a path, else a task shipped in ``skill_rl.tasks`` by that file name); a
    missing file is a UserError naming it."""
    p = Path(path)
    if not p.is_file() and (shipped := shipped_task(p)) is not None:
        p = shipped
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"task file not found: {p} (nor a task of that name in skill_rl.tasks)") from None
    except UnicodeDecodeError as e:
        raise UserError(f"task file {p} is not UTF-8 text: {e}") from None
    return parse_task(text, source=str(p))


def _fmt_num(v: float) -> str:
    return repr(float(v))


def format_task(spec: TaskSpec) -> str:
    """Task-file text for ``spec``; ``parse_task(format_task(s)) == s``."""
    def atom(a: tuple[str, ...]) -> str:
        return "(" + " ".join(a) + ")"

    lang = spec.language.replace('"', "'")
    lines = [f"(define (problem {spec.name})", f'  (:language "{lang}")']
    if spec.regions:
        regs = " ".join(
            f"({r.name} (:ranges (({_fmt_num(r.low_xy[0])} {_fmt_num(r.low_xy[1])} "
            f"{_fmt_num(r.high_xy[0])} {_fmt_num(r.high_xy[1])}))))" for r in spec.regions)
        lines.append(f"  (:regions {regs})")
    lines.append("  (:objects " + " ".join(f"{o.name} - {object_type(o)}" for o in spec.objects) + ")")
    if spec.init:
        lines.append("  (:init " + " ".join(atom(a) for a in spec.init) + ")")
    lines.append("  (:goal (And " + " ".join(atom(a) for a in spec.goal) + ")))")
    return "\n".join(lines) + "\n"
