"""Commands over the correlation: link, incidents, links, skew, exclusions, unattributed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer
from rich.text import Text

from forensics.case import DEFAULT_CASE
from forensics.errors import ForensicsError
from forensics.textsafe import terminal_safe

from .common import CaseOption, FormatOption, app, check_format, open_case, parse_pairs
from .output import print_frame, print_json, records, stdout

ParamPairs = Annotated[Optional[list[str]], typer.Option(
    "--param", "-p", help="Link setting key=value (repeatable), e.g. link_window_s=60, gpu_hour_price=3.")]
IncidentOption = Annotated[Optional[int], typer.Option("--incident", "-i", help="Only this incident.")]

LINK_COLUMNS = ["incident_id", "trajectory_id", "step", "cause_ts", "effect_kind", "effect_tbl", "effect_locator",
                "effect_ts_corrected", "delta_s", "basis", "confidence", "effect_summary"]


@app.command()
def link(
    case: CaseOption = Path(DEFAULT_CASE),
    param: ParamPairs = None,
    fmt: FormatOption = "table",
) -> None:
    """Estimate clock skew, link agent steps to their effects, chain incidents and answer them."""
    check_format(fmt)
    with open_case(case, must_exist=True) as opened:
        result = opened.link(params=parse_pairs(param, "--param"))
        incidents = _incident_records(opened)
        unattributed = records(opened.unattributed())
        benign = records(opened.explained_benign())
    if fmt == "json":
        print_json({"link": result.as_dict(), "incidents": incidents, "unattributed": unattributed,
                    "explained_benign": benign})
        return
    rules = pd.DataFrame(sorted(result.links_by_rule.items()), columns=["rule", "links"])
    print_frame(rules, fmt, title="Links by rule")
    if fmt == "table":
        from .render import print_incidents

        stdout.print()
        print_incidents(incidents, unattributed, benign)
        if result.invariant_violations:
            stdout.print(Text("Invariant violations: " + ", ".join(
                f"{terminal_safe(k)} ({v})" for k, v in sorted(result.invariant_violations.items()))))


def _incident_records(opened) -> list[dict]:
    from forensics import correlate

    return correlate.incident_records(opened.con)


@app.command()
def incidents(
    case: CaseOption = Path(DEFAULT_CASE),
    incident: IncidentOption = None,
    exclude_list: Annotated[bool, typer.Option(
        "--exclude-list", help="Print only the trajectories to exclude from training data, one per line.")] = False,
    fmt: FormatOption = "table",
) -> None:
    """Incidents with the answers to every question, then what is unattributed."""
    check_format(fmt)
    with open_case(case, read_only=True) as opened:
        if exclude_list:
            _print_exclusions(opened.exclusions(), "plain")
            return
        found = _incident_records(opened)
        unattributed = records(opened.unattributed())
        benign = records(opened.explained_benign())
    if incident is not None:
        found = [i for i in found if i.get("incident_id") == incident]
        if not found:
            raise ForensicsError(f"no incident {incident} in the case (run 'forensics link' first)")
    if fmt == "json":
        print_json({"incidents": found, "unattributed": unattributed, "explained_benign": benign})
        return
    if fmt == "csv":
        frame = pd.DataFrame(found, columns=["incident_id", "severity", "title", "first_ts", "last_ts", "hosts",
                                             "trajectories", "n_links", "n_findings"])
        print_frame(frame, "csv")
        return
    from .render import print_incidents

    print_incidents(found, unattributed, benign)


@app.command()
def links(
    case: CaseOption = Path(DEFAULT_CASE),
    incident: IncidentOption = None,
    trajectory: Annotated[Optional[str], typer.Option("--trajectory", help="Only this trajectory's links.")] = None,
    fmt: FormatOption = "table",
) -> None:
    """Links from agent steps to their effects, with basis, delay and confidence."""
    check_format(fmt)
    with open_case(case, read_only=True) as opened:
        frame = opened.links(incident=incident, trajectory=trajectory)
    if fmt == "table":
        frame = frame[LINK_COLUMNS]
    print_frame(frame, fmt, title="Links" + (f" of incident {incident}" if incident is not None else ""))


@app.command()
def skew(
    case: CaseOption = Path(DEFAULT_CASE),
    methods: Annotated[bool, typer.Option("--methods", help="Also show the estimate of each matching method.")] = False,
    fmt: FormatOption = "table",
) -> None:
    """Each host's clock offset from a reference clock, its spread and number of matched pairs."""
    check_format(fmt)
    with open_case(case, read_only=True) as opened:
        frame = opened.skew()
    if not methods:
        frame = frame[frame["chosen"] | (frame["n_pairs"] == 0)]
    if fmt == "table":
        frame = frame[["host", "offset_s", "spread_s", "n_pairs", "reference", "method", "chosen"]]
    print_frame(frame.reset_index(drop=True), fmt, title="Clock offsets (host minus reference, seconds)", max_width=160)


def _print_exclusions(frame: pd.DataFrame, fmt: str) -> None:
    if fmt == "plain":
        for trajectory in frame["trajectory_id"].tolist():
            sys.stdout.write(terminal_safe(trajectory) + "\n")
        return
    print_frame(frame[["trajectory_id", "run_id", "incident_id", "reason"]], fmt, title="Trajectories to exclude")


@app.command()
def exclusions(
    case: CaseOption = Path(DEFAULT_CASE),
    fmt: Annotated[str, typer.Option("--format", "-f", help="plain (one trajectory id per line), table, csv or json.")]
        = "plain",
) -> None:
    """The trajectories to exclude from training data, as a plain list for a data-filtering pipeline."""
    if fmt != "plain":
        check_format(fmt)
    with open_case(case, read_only=True) as opened:
        frame = opened.exclusions()
    _print_exclusions(frame, fmt)


@app.command()
def unattributed(case: CaseOption = Path(DEFAULT_CASE), fmt: FormatOption = "table") -> None:
    """What is suspicious and not caused by any agent step in evidence, with the reason."""
    check_format(fmt)
    with open_case(case, read_only=True) as opened:
        frame = opened.unattributed()
    if fmt == "table":
        frame = frame[["ts_start", "severity", "kind", "host", "src_ip", "n_records", "summary", "reason"]]
    print_frame(frame, fmt, title="Unattributed: not caused by any agent step in evidence", max_width=200)
