"""The parser registry.

A parser is one module in ``parsers/`` (imported as ``forensics.parsers``) that calls
:func:`register` with a :class:`Parser`: its name, the tables it fills, a cheap ``sniff`` on the
first bytes of a file, and ``parse``. Modules are discovered by import, never listed by hand, so
adding a format is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Callable

from .errors import ParserError

if TYPE_CHECKING:  # pragma: no cover
    from .context import ParseContext


@dataclass(frozen=True)
class Sniff:
    """What a parser may look at to decide whether a file is its format: cheap and bounded."""

    name: str  # the file's base name (for a zip member, the member's base name)
    path: str  # the path as given (for a zip member: "archive.zip!member")
    head: bytes  # the first 64 KiB of the content, decompressed
    compression: str | None = None  # the wrapping it came in (gzip, zstd, ...), if any
    zip_members: tuple[str, ...] = ()  # member names when the file itself is a zip archive

    @cached_property
    def text(self) -> str:
        return self.head.decode("utf-8", errors="replace")

    @cached_property
    def lines(self) -> list[str]:
        """Complete lines of the head (the last, possibly cut, line is dropped when there are others)."""
        lines = self.text.splitlines()
        if len(lines) > 1 and not self.text.endswith(("\n", "\r")):
            lines = lines[:-1]
        return lines

    @cached_property
    def first_nonblank_lines(self) -> list[str]:
        return [line for line in self.lines if line.strip()][:50]

    @property
    def is_zip(self) -> bool:
        return bool(self.zip_members)


@dataclass(frozen=True)
class Parser:
    """One input format."""

    name: str
    description: str
    tables: tuple[str, ...]
    sniff: Callable[[Sniff], float | bool]
    parse: Callable[["ParseContext"], None]
    version: str = "1"
    # Files are parsed in phase order: the inventory (phase 0) first, so that its host and time
    # zone hints reach every other file of the same ingest.
    phase: int = 50
    # True when the parser takes a zip archive whole (e.g. Inspect .eval logs) rather than its members.
    accepts_zip: bool = False
    # Files of this parser smaller than this many bytes may share one transaction with the next
    # files of the same parser, up to this many bytes in all (each file still all or nothing: a
    # crash loses the open group, never part of a file). 0: one transaction per file. For many
    # small files the commit of each (a write-ahead log of every row, then a checkpoint that
    # compresses the table's last row group again) costs more than parsing them.
    shared_commit_bytes: int = 0
    extensions: tuple[str, ...] = field(default_factory=tuple)  # documentation only; never used to sniff


_PARSERS: dict[str, Parser] = {}
_LOAD_ERRORS: dict[str, str] = {}
_LOADED = False


def register(parser: Parser) -> Parser:
    """Add a parser to the registry (called at import time by each module in ``parsers/``)."""
    if parser.name in _PARSERS and _PARSERS[parser.name] is not parser:
        raise ParserError(f"two parsers are named {parser.name!r}")
    _PARSERS[parser.name] = parser
    return parser


def unregister(name: str) -> None:
    """Remove a parser (for tests and plugins that register parsers of their own)."""
    _PARSERS.pop(name, None)


def load_parsers() -> None:
    """Import every module of ``forensics.parsers`` once. A module that fails to import is
    recorded (``formats`` shows it) rather than breaking every other format."""
    global _LOADED
    if _LOADED:
        return
    package = importlib.import_module("forensics.parsers")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module_name = f"{package.__name__}.{info.name}"
        try:
            importlib.import_module(module_name)
        except Exception as exc:  # a broken or unavailable parser must not break the others
            _LOAD_ERRORS[info.name] = f"{type(exc).__name__}: {exc}"
            _LOAD_ERRORS[info.name + ".traceback"] = traceback.format_exc()
    _LOADED = True


def parsers() -> list[Parser]:
    load_parsers()
    return sorted(_PARSERS.values(), key=lambda p: (p.phase, p.name))


def load_errors() -> dict[str, str]:
    load_parsers()
    return {k: v for k, v in _LOAD_ERRORS.items() if not k.endswith(".traceback")}


def get_parser(name: str) -> Parser:
    load_parsers()
    try:
        return _PARSERS[name]
    except KeyError:
        known = ", ".join(sorted(_PARSERS)) or "none"
        raise ParserError(f"unknown format {name!r} (known: {known})") from None


def choose_parser(sniff: Sniff) -> tuple[Parser | None, float]:
    """The parser whose sniff is most confident (> 0), or None when no parser claims the file."""
    best: Parser | None = None
    best_score = 0.0
    for parser in parsers():
        if sniff.is_zip and not parser.accepts_zip:
            continue
        try:
            score = float(parser.sniff(sniff))
        except Exception:  # a sniff that trips on odd bytes simply does not claim the file
            score = 0.0
        if score > best_score:
            best, best_score = parser, score
    return best, best_score
