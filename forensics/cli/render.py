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
    else:
        findings["_order"] = findings["severity"].map(SEVERITY_ORDER).fillna(9)
        findings = findings.sort_values(["_order", "ts_start"]).drop(columns=["_order"])
        print_frame(findings[["ts_start", "severity", "kind", "host", "summary"]], "table",
                    title=f"Findings ({len(findings)})")
    if "incidents" in result:
        stdout.print()
        print_incidents(result.get("incidents") or [], result.get("unattributed") or [],
                        result.get("explained_benign") or [])


def _ts(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "?"
    try:
        stamp = pd.Timestamp(value)
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
    except (ValueError, TypeError):
        return terminal_safe(str(value))


def incident_lines(incident: dict[str, Any]) -> list[str]:
    """One incident as lines of text: its title, then the answer to every question."""
    answers = incident.get("answers") or {}
    lines = [f"Incident {incident.get('incident_id')} [{incident.get('severity')}]: {incident.get('title')}",
             f"  {_ts(incident.get('first_ts'))} to {_ts(incident.get('last_ts'))}; hosts "
             f"{', '.join(incident.get('hosts') or [])}; trajectories {', '.join(incident.get('trajectories') or [])}; "
             f"{incident.get('n_links')} links, {incident.get('n_findings')} findings"]
    first = answers.get("first_agent_action") or {}
    lines.append("  First agent action: " + (
        f"run {first.get('run_id')}, {first.get('trajectory_id')} step {first.get('step')} at {_ts(first.get('ts'))}"
        f" on {first.get('host')}: {first.get('command')}" if first else "none in evidence"))
    network = first.get("first_network_action") if first else None
    if network:
        lines.append(f"    first to reach the network: {network.get('trajectory_id')} step {network.get('step')} at "
                     f"{_ts(network.get('ts'))}: {network.get('first_effect_summary')}")
    tunnels = answers.get("tunnels") or []
    lines.append(f"  Tunnels: {len(tunnels) or 'none'}")
    for t in tunnels:
        endpoint = t.get("endpoint") or {}
        where = f"{endpoint.get('user') + '@' if endpoint.get('user') else ''}{endpoint.get('ip')}:{endpoint.get('port')}"
        text = (f"    {t.get('trajectory_id')} step {t.get('step')}: {where} {' '.join(t.get('forwards') or [])}"
                f" - {t.get('status')}")
        if t.get("start"):
            text += f"; start {_ts(t.get('start'))} ({t.get('start_source')})"
        if t.get("end"):
            text += f", last seen {_ts(t.get('end'))} ({t.get('end_source')}), {t.get('duration_s')} s"
        lines.append(text)
        capture, firewall = t.get("capture"), t.get("firewall")
        if capture:
            lines.append(f"      capture: {capture.get('ip_bytes_out')} bytes out / {capture.get('ip_bytes_in')} in "
                         f"(IP; payload {capture.get('payload_bytes_out')} / {capture.get('payload_bytes_in')})"
                         + ("; still open when the capture ends" if capture.get("still_open_when_capture_ends") else ""))
        if firewall:
            lines.append(f"      firewall: {firewall.get('records')} records ({', '.join(firewall.get('actions') or [])}), "
                         f"{firewall.get('bytes_out')} bytes out / {firewall.get('bytes_in')} in, until "
                         f"{_ts(firewall.get('last'))}")
        host_log = t.get("host_log")
        if host_log:
            lines.append(f"      host log: {host_log.get('records')} records ({', '.join(host_log.get('actions') or [])})")
    probes = answers.get("probes") or []
    lines.append(f"  Internal probes: {len(probes) or 'none'}")
    for p in probes:
        outcomes = p.get("outcomes") or {}
        lines.append(f"    {p.get('trajectory_id')} step {p.get('step')}: {', '.join(p.get('ranges_named') or [])} ports "
                     f"{', '.join(str(x) for x in p.get('ports_named') or [])}; {p.get('targets_attempted')} targets "
                     f"tried on {p.get('hosts_attempted')} hosts ({outcomes.get('open')} open, {outcomes.get('refused')} "
                     f"refused, {outcomes.get('dropped')} dropped, {outcomes.get('no_answer')} no answer)")
        lines.append(f"      answered: {', '.join(p.get('answered') or []) or 'none'}")
    mining = answers.get("mining") or []
    lines.append(f"  Mining: {len(mining) or 'none'}")
    for m in mining:
        pool = m.get("pool") or {}
        shares = m.get("shares") or {}
        lines.append(f"    {m.get('trajectory_id')} step {m.get('step')}: pool {pool.get('url') or pool.get('session')}"
                     f" ({', '.join(pool.get('addresses') or []) or 'address unknown'}), coin {m.get('coin')}"
                     f" ({m.get('coin_reason')})")
        lines.append(f"      wallet {m.get('wallet')}")
        lines.append("      shares: " + (f"{shares.get('submitted')} submitted, {shares.get('accepted')} accepted, "
                                         f"{shares.get('rejected')} rejected" if shares else "unknown")
                     + f" ({m.get('shares_note')})")
    gpus = answers.get("gpus") or {}
    diverted = gpus.get("diverted") or []
    lines.append(f"  GPUs diverted: {len(diverted) or 'none'}"
                 + (f"; {gpus.get('gpu_hours')} GPU-hours, about {gpus.get('estimated_cost')} {gpus.get('currency')} "
                    f"at {gpus.get('gpu_hour_price')} {gpus.get('currency')}/GPU-hour" if diverted else ""))
    for g in diverted:
        lines.append(f"    {g.get('host')} GPU {g.get('gpu_index')} {g.get('gpu_uuid')} (job {g.get('job')}): "
                     f"{g.get('process')} pid {g.get('pid')}, {_ts(g.get('first_seen'))} to {_ts(g.get('last_seen'))}, "
                     f"{g.get('gpu_hours')} GPU-hours")
    latency = answers.get("detection_latency") or {}
    alert = latency.get("first_firewall_alert")
    if alert:
        lines.append(f"  Detection latency: {latency.get('latency_s')} s from the first agent action to the first "
                     f"firewall alert ({alert.get('label') or alert.get('rule')}, {_ts(alert.get('ts'))})")
    else:
        lines.append(f"  Detection latency: unknown - {latency.get('note') or 'no firewall alert'}")
    detection = latency.get("first_detection")
    if detection:
        lines.append(f"    first detection by any sensor: {detection.get('kind')} ({detection.get('detector')}) at "
                     f"{_ts(detection.get('ts'))}, {latency.get('first_detection_latency_s')} s after the first action")
    excluded = answers.get("trajectories_to_exclude") or []
    lines.append("  Trajectories to exclude: " + (", ".join(e.get("trajectory_id") for e in excluded) or "none"))
    return lines


def unattributed_lines(items: list[dict[str, Any]]) -> list[str]:
    if not items:
        return ["Unattributed: nothing - every suspicious finding is explained by an agent step in evidence."]
    lines = [f"Unattributed ({len(items)}): suspicious, and not caused by any agent step in evidence"]
    for item in items:
        lines.append(f"  {_ts(item.get('ts_start'))} {item.get('kind')} on {item.get('host')}: {item.get('summary')}")
        lines.append(f"    {item.get('reason')}")
    return lines


def benign_lines(items: list[dict[str, Any]]) -> list[str]:
    if not items:
        return []
    lines = [f"Explained by agent steps with nothing suspicious ({len(items)}): not part of any incident"]
    for item in items:
        lines.append(f"  {_ts(item.get('ts_start'))} {item.get('kind')} on {item.get('host')}: {item.get('summary')}")
        lines.append(f"    {item.get('reason')}")
    return lines


def print_incidents(incidents: list[dict[str, Any]], unattributed: list[dict[str, Any]],
                    benign: list[dict[str, Any]] | None = None) -> None:
    from .output import print_lines

    if not incidents:
        stdout.print(Text("No incidents: no agent step is linked to an effect in evidence."))
    for incident in incidents:
        print_lines(incident_lines(incident))
        stdout.print()
    print_lines(unattributed_lines(unattributed))
    if benign:
        stdout.print()
        print_lines(benign_lines(benign))
