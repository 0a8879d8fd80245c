"""Rendering of the investigation summary for people."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.text import Text

from forensics.textsafe import terminal_safe

from .output import print_frame, stdout

SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def print_investigation(result: dict[str, Any]) -> None:
    summary = result.get("case_summary", {})
    evidence = summary.get("evidence", {})
    stdout.print(Text(f"Case {terminal_safe(result.get('case'))}: "
                      + ", ".join(f"{count} {status}" for status, count in sorted(evidence.items()))
                      + f" evidence files; {summary.get('rows', {}).get('parse_warnings', 0)} parse warnings"))
    unclaimed = result.get("unclaimed_files") or []
    if unclaimed:
        stdout.print(Text(f"{len(unclaimed)} files no parser recognised: "
                          + ", ".join(terminal_safe(u) for u in unclaimed[:10])
                          + (" …" if len(unclaimed) > 10 else "")))
    findings = pd.DataFrame(result.get("findings") or [])
    if findings.empty:
        stdout.print(Text("No findings."))
        return
    findings["_order"] = findings["severity"].map(SEVERITY_ORDER).fillna(9)
    findings = findings.sort_values(["_order", "ts_start"]).drop(columns=["_order"])
    print_frame(findings[["ts_start", "severity", "kind", "host", "summary"]], "table",
                title=f"Findings ({len(findings)})")
