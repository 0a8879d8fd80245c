"""Query files: SQL in ``queries/``, discovered by glob, described by a header.

Each file starts with comment lines::

    -- title: Internal probing by failed-connection fan-out
    -- description: Per source host and window, many distinct internal destinations or ports
    --   that were denied or failed. Continuation lines are indented.
    -- param window_s: 300  -- window length in seconds
    -- param min_hosts: 25  -- distinct destinations on one port that make a scan
    -- attack: T1046

Parameters are DuckDB named parameters (``$window_s``) and every ``$name`` the SQL uses must be
declared. A value given by the caller overrides the default; a parameter without a default must
be given; an unknown parameter is an error.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import QueryError

_HEADER = re.compile(r"^--\s?(?P<key>[A-Za-z_][\w-]*)\s*(?P<name>[A-Za-z_]\w*)?\s*:\s?(?P<value>.*)$")
_PARAM_REF = re.compile(r"\$([A-Za-z_]\w*)")
_STRINGS_AND_COMMENTS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)


@dataclass(frozen=True)
class Param:
    name: str
    default: Any  # None when the caller must give it
    help: str
    required: bool


@dataclass(frozen=True)
class QueryFile:
    name: str  # path below queries/ without .sql, e.g. detect/internal_probe
    path: Path
    sql: str  # the text after the header
    text: str  # the whole file
    title: str
    description: str
    params: dict[str, Param] = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def group(self) -> str:
        return self.name.split("/", 1)[0] if "/" in self.name else ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def referenced_params(self) -> list[str]:
        stripped = _STRINGS_AND_COMMENTS.sub(" ", self.sql)
        seen: list[str] = []
        for name in _PARAM_REF.findall(stripped):
            if name not in seen:
                seen.append(name)
        return seen

    def bind(self, given: dict[str, Any] | None = None) -> dict[str, Any]:
        """The named parameters to pass to DuckDB: defaults overridden by ``given``."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            known = ", ".join(sorted(self.params)) or "none"
            raise QueryError(f"query {self.name} has no parameter {', '.join(unknown)} (it takes: {known})")
        values: dict[str, Any] = {}
        for name in self.referenced_params():
            if name not in self.params:
                raise QueryError(f"query {self.name} uses ${name} but does not declare it in its header")
            param = self.params[name]
            if name in given:
                values[name] = coerce(given[name], param.default)
            elif param.required:
                raise QueryError(f"query {self.name} needs parameter {name} ({param.help or 'no default'})")
            else:
                values[name] = param.default
        return values


def _parse_default(text: str) -> tuple[Any, bool]:
    text = text.strip()
    if text == "" or text.lower() == "required":
        return None, True
    if text.lower() == "null":
        return None, False
    if text.lower() in ("true", "false"):
        return text.lower() == "true", False
    for kind in (int, float):
        try:
            return kind(text), False
        except ValueError:
            pass
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    return text, False


def coerce(value: Any, like: Any) -> Any:
    """Turn a command-line string into the type of the parameter's default."""
    if not isinstance(value, str) or like is None or isinstance(like, str):
        return value
    try:
        if isinstance(like, bool):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(like, int):
            return int(value)
        if isinstance(like, float):
            return float(value)
    except ValueError:
        raise QueryError(f"parameter value {value!r} is not a {type(like).__name__}") from None
    return value


def parse_query_text(name: str, path: Path, text: str) -> QueryFile:
    meta: dict[str, str] = {}
    params: dict[str, Param] = {}
    lines = text.splitlines()
    last_key: str | None = None
    body_start = len(lines)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            body_start = index
            break
        match = _HEADER.match(stripped)
        continuation = re.match(r"^--\s{2,}(.*)$", line.rstrip())
        if continuation and last_key:
            meta[last_key] = (meta.get(last_key, "") + " " + continuation.group(1).strip()).strip()
            continue
        if not match:
            last_key = None
            continue
        key, pname, value = match.group("key").lower(), match.group("name"), match.group("value")
        if key == "param" and pname:
            default_text, _, help_text = value.partition("--")
            default, required = _parse_default(default_text)
            params[pname] = Param(pname, default, help_text.strip(), required)
            last_key = None
        elif pname is None:
            meta[key] = value.strip()
            last_key = key
    if "title" not in meta:
        raise QueryError(f"query file {path} has no '-- title:' header")
    return QueryFile(
        name=name,
        path=path,
        sql="\n".join(lines[body_start:]).strip().rstrip(";").strip(),
        text=text,
        title=meta.get("title", ""),
        description=meta.get("description", ""),
        params=params,
        meta=meta,
    )


def queries_root() -> Path:
    return Path(str(resources.files("forensics.queries")))


def discover(group: str | None = None) -> list[QueryFile]:
    """Every query file (optionally of one group: schema, detect, link, timeline, report), sorted by name."""
    root = queries_root()
    pattern = f"{group}/**/*.sql" if group else "**/*.sql"
    found = []
    for path in sorted(root.glob(pattern)):
        name = path.relative_to(root).with_suffix("").as_posix()
        found.append(parse_query_text(name, path, path.read_text(encoding="utf-8")))
    return found


def find(name_or_path: str) -> QueryFile:
    """A query by name (``detect/internal_probe``), by unique short name, or by a .sql file path."""
    candidate = Path(name_or_path)
    if name_or_path.endswith(".sql") and candidate.is_file():
        return parse_query_text(candidate.stem, candidate, candidate.read_text(encoding="utf-8"))
    wanted = name_or_path[:-4] if name_or_path.endswith(".sql") else name_or_path
    every = discover()
    exact = [q for q in every if q.name == wanted]
    if exact:
        return exact[0]
    short = [q for q in every if q.name.rsplit("/", 1)[-1] == wanted]
    if len(short) == 1:
        return short[0]
    if len(short) > 1:
        raise QueryError(f"query name {wanted!r} is ambiguous: {', '.join(q.name for q in short)}")
    raise QueryError(f"no query named {wanted!r} (see 'forensics query --list')")
