"""Tiny case databases for the correlation tests: rows written straight into the tables the
parsers fill (evidence, entities, agent steps and their indicators, firewall and kernel-log
records, capture flows, DNS answers, processes, findings), so each test shows one basis."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from forensics import Case

T0 = datetime(2026, 2, 17, 2, 0, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    """T0 + seconds (UTC)."""
    return T0 + timedelta(seconds=seconds)


class TinyCase:
    """A case file with helpers that insert one row each."""

    def __init__(self, path: Path) -> None:
        self.case = Case(path)
        self.con = self.case.con
        self._evidence: dict[str, int] = {}
        self._lines: dict[int, int] = {}

    # -- evidence and identities -------------------------------------------------------------
    def evidence(self, fmt: str, path: str | None = None) -> int:
        key = path or fmt
        if key not in self._evidence:
            evidence_id = len(self._evidence) + 1
            self.con.execute("INSERT INTO evidence (evidence_id, path, format, parser, status) VALUES (?, ?, ?, ?, 'parsed')",
                             [evidence_id, path or f"{fmt}.log", fmt, fmt])
            self._evidence[key] = evidence_id
        return self._evidence[key]

    def locator(self, evidence_id: int) -> str:
        self._lines[evidence_id] = self._lines.get(evidence_id, 0) + 1
        return f"line:{self._lines[evidence_id]}"

    def host(self, name: str, ip: str, public_ip: str | None = None, role: str = "gpu-node") -> None:
        ev = self.evidence("inventory")
        self.con.execute("INSERT INTO entities (kind, value, host, attributes, source, evidence_id, locator) "
                         "VALUES ('host', ?, ?, ?, 'inventory', ?, ?)", [name, name, json.dumps({"role": role}), ev, name])
        self.con.execute("INSERT INTO entities (kind, value, host, source, evidence_id, locator) "
                         "VALUES ('ip', ?, ?, 'inventory', ?, ?)", [ip, name, ev, name + ".ip"])
        if public_ip:
            self.con.execute("INSERT INTO entities (kind, value, host, source, evidence_id, locator) "
                             "VALUES ('public_ip', ?, ?, 'inventory', ?, ?)", [public_ip, name, ev, name + ".eip"])

    def network(self, cidr: str) -> None:
        self.con.execute("INSERT INTO entities (kind, value, attributes, source) VALUES ('network', ?, ?, 'inventory')",
                         [cidr, json.dumps({"zone": "internal"})])

    def sandbox(self, trajectory: str, sandbox: str, ip: str, host: str, start: float, end: float,
                container: str | None = None) -> None:
        ev = self.evidence("openai_chat", "rollouts.jsonl")
        attrs = {"sandbox_ip": ip, "container_id": container, "run_id": "run-1"}
        for kind, value, extra in (("trajectory", trajectory, attrs), ("sandbox", sandbox, {"ip": ip}),
                                   ("ip", ip, {"lease": "sandbox"})):
            self.con.execute(
                "INSERT INTO entities (kind, value, host, sandbox, valid_from, valid_to, attributes, source, evidence_id, locator) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'openai_chat', ?, ?)",
                [kind, value, host, sandbox, at(start), at(end), json.dumps(extra), ev, f"traj:{trajectory}"])

    # -- agent steps --------------------------------------------------------------------------
    def step(self, trajectory: str, step: int, start: float, command: str, end: float | None = None,
             sandbox: str | None = None, host: str | None = None, sandbox_ip: str | None = None,
             exit_code: int = 0, output: str | None = None, fmt: str = "openai_chat") -> tuple[int, str]:
        ev = self.evidence(fmt, "rollouts.jsonl" if fmt == "openai_chat" else f"{fmt}.log")
        locator = f"line:1 traj:{trajectory} step:{step}"
        self.con.execute(
            """INSERT INTO agent_steps (source_format, run_id, trajectory_id, step, call_index, ts, ts_end, ts_basis,
                   sandbox, sandbox_ip, host, role, action, tool, command, output_excerpt, exit_code, evidence_id, locator)
               VALUES (?, 'run-1', ?, ?, 0, ?, ?, 'absolute', ?, ?, ?, 'assistant', 'exec', 'bash', ?, ?, ?, ?, ?)""",
            [fmt, trajectory, step, at(start), at(end if end is not None else start + 0.5), sandbox, sandbox_ip, host,
             command, output, exit_code, ev, locator])
        return ev, locator

    def action(self, step_ref: tuple[int, str], trajectory: str, step: int, category: str, technique: str,
               kind: str, value: str, ip: str | None = None, ip_end: str | None = None, hostname: str | None = None,
               port: int | None = None, detail: str | None = None) -> None:
        ev, locator = step_ref
        self.con.execute(
            """INSERT INTO agent_actions (run_id, trajectory_id, step, call_index, category, technique, attack_id,
                   indicator_kind, indicator_value, ip, ip_end, hostname, port, detail, basis, confidence, evidence_id, locator)
               VALUES ('run-1', ?, ?, 0, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, 'parsed', 0.9, ?, ?)""",
            [trajectory, step, category, technique, kind, value, ip, ip_end, hostname, port, detail, ev, locator])

    # -- network ------------------------------------------------------------------------------
    def net(self, ts: datetime, host: str | None, src: str, sport: int, dst: str, dport: int, action: str = "allow",
            fmt: str = "netfilter", path: str | None = None, src_private_ip: str | None = None,
            ts_end: datetime | None = None, direction: str = "outbound", bytes_out: int | None = None,
            bytes_in: int | None = None, label: str | None = None) -> tuple[int, str]:
        ev = self.evidence(fmt, path)
        locator = self.locator(ev)
        self.con.execute(
            """INSERT INTO net_events (ts, ts_end, host, src_ip, src_port, dst_ip, dst_port, proto, direction, action,
                   bytes_out, bytes_in, label, src_private_ip, source_format, evidence_id, locator)
               VALUES (?, ?, ?, ?, ?, ?, ?, 'tcp', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [ts, ts_end, host, src, sport, dst, dport, direction, action, bytes_out, bytes_in, label, src_private_ip,
             fmt, ev, locator])
        return ev, locator

    def flow(self, ts: datetime, host: str, orig: str, oport: int, resp: str, rport: int, state: str = "SF",
             duration: float = 1.0, path: str = "capture.pcap") -> tuple[int, str]:
        ev = self.evidence("pcap", path)
        locator = f"frame:{self._lines.get(ev, 0) + 1}"
        self._lines[ev] = self._lines.get(ev, 0) + 1
        self.con.execute(
            """INSERT INTO flows (ts, uid, orig_h, orig_p, resp_h, resp_p, proto, duration, conn_state, resp_pkts,
                   host, source_format, evidence_id, locator)
               VALUES (?, ?, ?, ?, ?, ?, 'tcp', ?, ?, ?, ?, 'pcap', ?, ?)""",
            [ts, f"C{ev}{locator}", orig, oport, resp, rport, duration, state, 0 if state == "S0" else 3, host, ev, locator])
        return ev, locator

    def dns(self, ts: datetime, host: str, client: str, query: str, answers: list[str]) -> tuple[int, str]:
        ev = self.evidence("pcap", "capture.pcap")
        locator = f"frame:{self._lines.get(ev, 0) + 1}"
        self._lines[ev] = self._lines.get(ev, 0) + 1
        self.con.execute(
            """INSERT INTO dns (ts, uid, host, orig_h, orig_p, resp_h, resp_p, proto, query, qtype_name, answers,
                   evidence_id, locator) VALUES (?, 'D1', ?, ?, 53000, '10.20.0.2', 53, 'udp', ?, 'A', ?, ?, ?)""",
            [ts, host, client, query, answers, ev, locator])
        return ev, locator

    def finding(self, finding_id: str, kind: str, ts: datetime, host: str | None, refs: list[tuple[str, int, str]],
                src_ip: str | None = None, dst_ip: str | None = None, dst_port: int | None = None,
                severity: str = "high", details: dict | None = None, detector: str | None = None) -> None:
        self.con.execute(
            """INSERT INTO findings (finding_id, detector, kind, title, severity, confidence, ts_start, ts_end, host,
                   src_ip, dst_ip, dst_port, summary, evidence_refs, details)
               VALUES (?, ?, ?, ?, ?, 0.9, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [finding_id, detector or f"detect/{kind}", kind, kind, severity, ts, ts, host, src_ip, dst_ip, dst_port,
             f"{kind} finding {finding_id}", [{"tbl": t, "evidence_id": e, "locator": loc} for t, e, loc in refs],
             json.dumps(details or {})])

    # -- the stage ------------------------------------------------------------------------------
    def link(self, **params):
        return self.case.link(params=params)

    def links(self, **where) -> list[dict]:
        frame = self.case.links()
        for key, value in where.items():
            frame = frame[frame[key] == value]
        return frame.to_dict(orient="records")

    def close(self) -> None:
        self.case.close()


def cluster(path: Path) -> TinyCase:
    """Two GPU nodes and a monitoring host on 10.20.0.0/16, with public addresses."""
    tiny = TinyCase(path)
    tiny.network("10.20.0.0/16")
    tiny.network("10.244.0.0/16")
    tiny.host("node-a", "10.20.1.11", "198.51.100.11")
    tiny.host("node-b", "10.20.1.12", "198.51.100.12")
    tiny.host("monitor", "10.20.0.5", role="monitoring")
    return tiny
