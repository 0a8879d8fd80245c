"""``forensics agent-analyse``: re-run the command analysis of every agent step (agent_actions,
agent_scripts), e.g. after the analyser improved; deterministic, no model calls."""

from __future__ import annotations

from typing import Annotated

import typer

from forensics.agent.analyse import analyse_evidence

from .common import CaseOption, app, open_case


@app.command("agent-analyse")
def agent_analyse(
    case: CaseOption = "case.duckdb",  # type: ignore[assignment]
    evidence: Annotated[int | None, typer.Option("--evidence", help="Only this evidence id.")] = None,
) -> None:
    """Re-derive agent_actions and agent_scripts from agent_steps."""
    with open_case(case, must_exist=True) as opened:
        opened.con.begin()
        try:
            counts = analyse_evidence(opened.con, evidence)
            opened.con.commit()
        except BaseException:
            opened.con.rollback()
            raise
    typer.echo(f"{counts['candidates']} distinct candidate commands, {counts['actions']} indicators, "
               f"{counts['scripts']} scripts")
