"""A lower DuckDB memory limit for the duration of one parse, set without risking the evidence
file's transaction (a bad value is checked on a scratch connection first) and put back exactly."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import duckdb

from forensics.context import ParseContext, sql_string

_UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
          "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "TB": 10 ** 12}


def setting_bytes(setting: str) -> float:
    """A memory size as DuckDB shows it ('2.7 GiB', '488.2 MiB') in bytes."""
    number, _, unit = setting.strip().partition(" ")
    try:
        return float(number) * _UNITS.get(unit.strip(), 1)
    except ValueError:
        return float("inf")


@contextmanager
def budget(ctx: ParseContext, option: str, default: str) -> Iterator[None]:
    """While the block runs, DuckDB's memory limit is the ``option`` given with ``--option``
    (else ``default``), only ever lowered: a lower limit given to the case stays. A value DuckDB
    does not accept becomes a warning and the limit is kept."""
    con = ctx.con
    limit = ctx.options.get(option) or default
    scratch = duckdb.connect()  # errors here would abort the evidence file's transaction
    try:
        try:
            scratch.execute(f"SET memory_limit = {sql_string(limit)}")
            wanted = scratch.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        except duckdb.Error:
            ctx.warn(None, f"option {option}={limit!r} is not a DuckDB memory size; DuckDB's limit kept")
            wanted = None
        scratch.execute("RESET memory_limit")
        default_shown = scratch.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    finally:
        scratch.close()
    previous = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    lower = wanted is not None and setting_bytes(wanted) < setting_bytes(previous)
    if lower:
        con.execute(f"SET memory_limit = {sql_string(limit)}")
    try:
        yield
    finally:
        if lower:
            try:  # DuckDB shows a limit rounded: the default is put back exactly by RESET
                con.execute("RESET memory_limit" if previous == default_shown
                            else f"SET memory_limit = {sql_string(previous)}")
            except duckdb.Error:  # an aborted transaction refuses it; the error that aborted it matters
                pass
