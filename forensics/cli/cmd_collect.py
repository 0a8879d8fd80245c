"""``forensics collect``: live collection on cluster nodes, to run before an incident.

``forensics collect gpu`` samples every GPU through NVML into rotating JSON lines that
``forensics ingest`` reads back (format ``nvml_snapshots``). Without a GPU or driver it says so
in one line and exits 1.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from forensics.gpu.collector import FakeNvml, load_pynvml, run_collector
from forensics.textsafe import terminal_safe

from .common import app
from .output import stdout

collect_app = typer.Typer(help="Live collection on cluster nodes (deploy before an incident).",
                          no_args_is_help=True, rich_markup_mode=None)
app.add_typer(collect_app, name="collect")


@collect_app.command("gpu")
def gpu(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the JSON-lines files.", file_okay=False)]
        = Path("gpu-telemetry"),
    interval: Annotated[float, typer.Option("--interval", help="Seconds between samples.")] = 15.0,
    count: Annotated[int, typer.Option("--count", help="Stop after this many samples (0: run until stopped).")] = 0,
    max_mb: Annotated[int, typer.Option("--max-mb", help="Start a new file past this many MiB.")] = 64,
    keep: Annotated[int, typer.Option("--keep", help="Keep at most this many files (oldest removed).")] = 10,
    host: Annotated[Optional[str], typer.Option("--host", help="Host name to record (default: this machine's).")]
        = None,
    fake_nvml: Annotated[Optional[Path], typer.Option(
        "--fake-nvml", hidden=True, exists=True, dir_okay=False,
        help="Answer NVML calls from a JSON fixture instead of the driver (tests, demonstrations).")] = None,
) -> None:
    """Sample every GPU through NVML (utilisation, memory, power, clocks, processes, per-process
    utilisation, accounting, XID events) into rotating JSON lines."""
    nvml = FakeNvml(fake_nvml) if fake_nvml else load_pynvml()
    stop = {"requested": False}

    def request_stop(signum, frame) -> None:  # finish the current sample, then close the file
        stop["requested"] = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        files = run_collector(nvml, out, interval_s=interval, count=count, max_bytes=max_mb << 20, keep=keep,
                              host=host, should_stop=lambda: stop["requested"])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for path in files:
        stdout.print(Text(f"wrote {terminal_safe(str(path))}"))
