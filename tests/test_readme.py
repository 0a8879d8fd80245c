"""The README documents every command, parser and query the tool has."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from forensics import Case, queryfiles
from forensics.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _command_names(typer_app: typer.Typer, prefix: str = "") -> list[str]:
    names = []
    for command in typer_app.registered_commands:
        name = command.name or command.callback.__name__.replace("_", "-")
        names.append(f"{prefix}{name}")
    for group in typer_app.registered_groups:
        names.extend(_command_names(group.typer_instance, f"{prefix}{group.name} "))
    return names


def test_every_cli_command_is_in_the_readme():
    missing = [name for name in _command_names(app) if f"forensics {name}" not in README]
    assert not missing, f"commands missing from README.md: {missing}"


def test_every_parser_is_in_the_readme_formats_table():
    missing = [p.name for p in Case.formats() if not re.search(rf"\|\s*`{re.escape(p.name)}`\s*\|", README)]
    assert not missing, f"parsers missing from the README formats table: {missing}"


def test_every_query_is_in_the_readme():
    missing = [q.name for q in queryfiles.discover() if q.group != "schema" and f"`{q.name}`" not in README]
    assert not missing, f"queries missing from README.md: {missing}"


def test_quick_start_is_two_commands():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "forensics investigate sample_logs/" in commands[0]
    assert "pytest" in commands[1]
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert commands[1].strip() in ci
