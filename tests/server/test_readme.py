"""The README's command lines name commands and options that exist.

Every line of the README's code blocks that starts with ``satchel`` or ``satchel-field`` is read
as the synopsis it is: ``a | b`` gives alternatives (each with the command's words before the
alternation), ``[…]`` optional parts, CAPITALS and quoted words the user's values. For each
command the test asks its ``--help`` (in-process, as the user would in a shell) and checks that it
exits 0 and lists every ``--option`` the README gives it. A renamed command or option fails here
rather than in the hands of a new user.
"""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from clients.cli import app as field_app
from server.commands import app as server_app

README = Path(__file__).resolve().parents[2] / "README.md"
runner = CliRunner()


def _code_lines() -> list[str]:
    lines, inside = [], False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside and re.match(r"satchel(-field)?\s", line):
            lines.append(line.split("  #")[0].split(" # ")[0].strip())
    return lines


def _words(line: str) -> list[str]:
    return shlex.split(line.replace("[", " ").replace("]", " "))


def _commands(line: str) -> list[tuple[str, list[str], list[str]]]:
    """(program, command words, options) of each alternative a synopsis line gives."""
    program, _, rest = line.partition(" ")
    parts = [part.strip() for part in rest.split(" | ")]
    found = []
    first = _words(parts[0])
    # "user list | disable LOGIN": an alternative that is no top-level command borrows the group
    # the first alternative starts with.
    for index, part in enumerate(parts):
        words = _words(part)
        if index > 0 and words and len(first) > 1 and not _is_group(program, words[:1]):
            words = [first[0], *words] if _is_group(program, first[:1]) else words
        path = _leading_names(words)
        options = [w.split("=")[0] for w in words if w.startswith("--")]
        found.append((program, path, options))
    return found


def _leading_names(words: list[str]) -> list[str]:
    """The command's words: lower-case names up to the first option or value."""
    names = []
    for word in words:
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        names.append(word)
    return names


def _app(program: str):  # type: ignore[no-untyped-def]
    return field_app if program == "satchel-field" else server_app


def _help(program: str, path: list[str]) -> tuple[int, str]:
    return _asked(program, tuple(path))


@functools.cache
def _asked(program: str, path: tuple[str, ...]) -> tuple[int, str]:
    result = runner.invoke(_app(program), [*path, "--help"], terminal_width=200)
    return result.exit_code, result.output


@functools.cache
def _tree(program: str) -> Any:
    return typer.main.get_command(_app(program))


def _is_group(program: str, path: list[str]) -> bool:
    """Whether ``path`` names a group of commands (read from the command tree, not from --help:
    the cases are built when the tests are collected, on every worker)."""
    node = _tree(program)
    for name in path:
        children = getattr(node, "commands", None)
        if not children or name not in children:
            return False
        node = children[name]
    return bool(getattr(node, "commands", None))


def _command_path(program: str, names: list[str]) -> list[str]:
    """The longest run of ``names`` that is a command (the rest are the user's values, such as a
    mailbox's name)."""
    path: list[str] = []
    for name in names:
        code, _ = _help(program, [*path, name])
        if code != 0:
            break
        path.append(name)
        if not _is_group(program, path):
            break
    return path


CASES = [
    (line, program, names, options)
    for line in _code_lines()
    for program, names, options in _commands(line)
]


def test_the_readme_shows_commands_of_both_programs() -> None:
    programs = {program for _, program, _, _ in CASES}
    assert programs == {"satchel", "satchel-field"}
    assert len(CASES) >= 30


@pytest.mark.parametrize(
    "line, program, names, options", CASES, ids=[f"{c[1]} {' '.join(c[2])}" for c in CASES]
)
def test_each_readme_command_and_option_exists(
    line: str, program: str, names: list[str], options: list[str]
) -> None:
    path = _command_path(program, names)
    assert path, f"README: {line!r} names no {program} command"
    code, output = _help(program, path)
    assert code == 0, f"README: {program} {' '.join(path)} --help failed:\n{output}"
    assert not _is_group(program, path), (
        f"README: {line!r} stops at the group {program} {' '.join(path)}, not a command"
    )
    missing = [option for option in options if option not in output]
    assert not missing, f"README: {line!r}: {program} {' '.join(path)} has no {missing}"
