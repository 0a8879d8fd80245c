"""The ``forensics`` command line: a thin typer layer over :class:`forensics.Case`.

Commands parse arguments, call the library and print. Library errors become one line on standard
error and exit code 1; tracebacks appear only with ``--debug``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import duckdb
import typer

from forensics.errors import ForensicsError
from forensics.textsafe import terminal_safe

from .common import app, state

# Command modules (cmd_*.py) register their commands on `app` when imported; adding a command
# group is adding a module.
for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_")):
    importlib.import_module(f"{__name__}.{_module}")


def _error(line: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``forensics`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    state.debug = "--debug" in args
    try:
        app(args=args, prog_name="forensics")
    except ForensicsError as exc:
        if state.debug:
            raise
        _error(f"error: {terminal_safe(exc)}")
        sys.exit(1)
    except duckdb.Error as exc:
        if state.debug:
            raise
        _error(f"error: database: {terminal_safe(str(exc).splitlines()[0])}")
        sys.exit(1)
    except OSError as exc:
        if state.debug:
            raise
        _error(f"error: {terminal_safe(exc.strerror or exc)}: {terminal_safe(exc.filename or '')}")
        sys.exit(1)
    except KeyboardInterrupt:
        _error("interrupted")
        sys.exit(130)


__all__ = ["app", "main", "typer"]
