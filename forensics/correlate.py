"""Correlation and attribution: which agent step caused which tunnel, probe, mining session and
GPU diversion, and what no agent step explains.

The work is SQL in ``queries/`` run in this order over the case database:

1. ``skew/pairs`` and ``skew/estimate``: each host's clock offset from events its own clock and a
   reference clock both stamped (``clock_pairs``, ``clock_offsets``); the ``*_corrected`` views of
   ``schema/90_correlation.sql`` apply it.
2. ``correlate/*``: the steps that carry indicators, what they name and where their traffic can
   come from (``link_steps``, ``link_step_targets``, ``link_step_places``), and the launches each
   step explains (``host/step_processes`` refined by the shell parser: ``link_step_processes``).
3. ``link/*`` in name order: each rule returns links (cause step, effect, basis, delta,
   confidence) with the evidence rows behind each effect (``links``, ``link_rows``); later rules
   may read what earlier ones linked (findings are linked through their evidence rows).
4. Incidents: trajectories with serious links, chained when they share an effect or an outside
   indicator (an address, a name, a wallet); every link of their steps joins the incident.
5. ``incident/*``: the answers each incident must give (first agent action, tunnels, probes,
   mining, GPUs and cost, detection latency, trajectories to exclude) and ``incident/unattributed``:
   what is suspicious and that no agent step in evidence explains, with the reason.

Invariant queries (``invariant/*``, each must return no rows) are run at the end and counted.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pandas as pd

from . import queryfiles
from .errors import QueryError

STAGES = ("skew", "correlate", "link", "incident")


@dataclass
class LinkResult:
    """What one link run produced."""

    clock_offsets: pd.DataFrame
    links_by_rule: dict[str, int] = field(default_factory=dict)
    incidents: int = 0
    unattributed: int = 0
    invariant_violations: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "clock_offsets": _records(self.clock_offsets[self.clock_offsets["chosen"]
                                                         | (self.clock_offsets["n_pairs"] == 0)]
                                      if not self.clock_offsets.empty else self.clock_offsets),
            "links_by_rule": dict(self.links_by_rule),
            "incidents": self.incidents,
            "unattributed": self.unattributed,
            "invariant_violations": dict(self.invariant_violations),
        }


def link_queries() -> list[queryfiles.QueryFile]:
    return [q for group in STAGES for q in queryfiles.discover(group)]


def declared_params() -> set[str]:
    """Every setting a query of the link stage takes (``--param`` names it reaches)."""
    return {name for q in link_queries() for name in q.params}


def _bind(query: queryfiles.QueryFile, params: dict[str, Any]) -> dict[str, Any]:
    return query.bind({k: v for k, v in params.items() if k in query.params})


def _run(con: duckdb.DuckDBPyConnection, query: queryfiles.QueryFile, params: dict[str, Any]) -> None:
    """Materialise a query's result as the temporary table _out."""
    try:
        con.execute("DROP TABLE IF EXISTS _out")
        con.execute(f"CREATE TEMP TABLE _out AS {query.sql}", _bind(query, params))
    except duckdb.Error as exc:
        raise QueryError(f"query {query.name} failed: {str(exc).splitlines()[0]}") from None


def _fill(con: duckdb.DuckDBPyConnection, table: str, query: queryfiles.QueryFile,
          params: dict[str, Any]) -> int:
    _run(con, query, params)
    con.execute(f"DELETE FROM {table}")
    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _out")
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


# ---------------------------------------------------------------------------------------- stages

def estimate_skew(con: duckdb.DuckDBPyConnection, params: dict[str, Any] | None = None) -> pd.DataFrame:
    """Match events stamped by a host's clock and a reference clock, store the pairs and each
    host's offset (``clock_pairs``, ``clock_offsets``) and return the offsets."""
    params = dict(params or {})
    # the offsets of an earlier run would correct the pairs' own times: start from raw stamps
    con.execute("DELETE FROM clock_offsets")
    _fill(con, "clock_pairs", queryfiles.find("skew/pairs"), params)
    # steps vs launches are costly and only approximate: only for hosts with launches but no exact pair
    lacking = con.execute(
        """SELECT count(*) FROM (SELECT DISTINCT p.host FROM processes p
                                 SEMI JOIN host_clock_evidence h ON h.evidence_id = p.evidence_id
                                 WHERE p.host IS NOT NULL) x
           WHERE x.host NOT IN (SELECT host FROM clock_pairs WHERE exact AND host IS NOT NULL)""").fetchone()[0]
    if lacking:
        query = queryfiles.find("skew/pairs_launch")
        _run(con, query, params)
        con.execute("""INSERT INTO clock_pairs BY NAME SELECT * FROM _out
                       WHERE host NOT IN (SELECT host FROM clock_pairs WHERE exact AND host IS NOT NULL)""")
    _fill(con, "clock_offsets", queryfiles.find("skew/estimate"), params)
    return con.execute("SELECT * FROM clock_offsets ORDER BY host, chosen DESC, method").df()


def stage(con: duckdb.DuckDBPyConnection, params: dict[str, Any] | None = None) -> dict[str, int]:
    """Fill the staging tables the link queries start from."""
    params = dict(params or {})
    counts = {}
    for name, table in (("correlate/steps", "link_steps"), ("correlate/step_targets", "link_step_targets"),
                        ("correlate/step_places", "link_step_places")):
        counts[table] = _fill(con, table, queryfiles.find(name), params)
    counts["link_step_processes"] = _stage_step_processes(con, params)
    return counts


def _stage_step_processes(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> int:
    """Launches each linked step explains: the host queries' candidates, refined by the shell
    parser (``forensics.host.links``), best step per launch, kept for steps in link_steps."""
    from .host.links import step_process_links

    con.execute("DELETE FROM link_step_processes")
    if not con.execute("SELECT count(*) FROM processes").fetchone()[0]:
        return 0
    if not con.execute("SELECT count(*) FROM link_steps").fetchone()[0]:
        return 0
    # host stamps may be off by the host's offset: widen the candidates' window by it
    widest = con.execute("SELECT coalesce(max(abs(offset_s)), 0) FROM host_clock_offsets").fetchone()[0] or 0
    skew_s = int(math.ceil(max(10.0, float(widest) + float(params.get("clock_tolerance_s", 2)))))
    window_s = int(params.get("process_window_s", 120))
    frame = step_process_links(con, window_s=window_s, skew_s=skew_s, min_confidence=0.5)
    if frame.empty:
        return 0
    frame = frame[frame["best_for_process"]]
    keep = frame[["step_evidence_id", "step_locator", "proc_id", "host", "pid", "proc_evidence_id",
                  "proc_locator", "basis", "confidence", "same_sandbox"]]
    con.register("_step_procs", keep)
    try:
        con.execute("""INSERT INTO link_step_processes BY NAME
                       SELECT p.* FROM _step_procs p
                       SEMI JOIN link_steps s ON s.evidence_id = p.step_evidence_id AND s.locator = p.step_locator""")
    finally:
        con.unregister("_step_procs")
    return int(con.execute("SELECT count(*) FROM link_step_processes").fetchone()[0])


def run_links(con: duckdb.DuckDBPyConnection, params: dict[str, Any] | None = None) -> dict[str, int]:
    """Run every ``link/*.sql`` rule in name order into ``links`` and ``link_rows``."""
    params = dict(params or {})
    con.execute("DELETE FROM links")
    con.execute("DELETE FROM link_rows")
    counts: dict[str, int] = {}
    for query in queryfiles.discover("link"):
        _run(con, query, params)
        rule = query.name
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _linked AS
               SELECT substr(md5(concat_ws('|', ?, o.cause_evidence_id, o.cause_locator, o.effect_kind,
                                           o.effect_tbl, o.effect_evidence_id, o.effect_locator, o.finding_id)), 1, 16)
                          AS link_id, o.*
               FROM _out o""", [rule])
        con.execute(
            """INSERT INTO links BY NAME
               SELECT o.* EXCLUDE (member_refs), ? AS rule, 'agent_step' AS cause_kind,
                      s.run_id, s.trajectory_id, s.step, s.call_index, s.ts AS cause_ts, s.host AS cause_host,
                      s.sandbox AS cause_sandbox, left(s.command, 400) AS command,
                      [{'tbl': 'agent_steps', 'evidence_id': s.evidence_id, 'locator': s.locator},
                       {'tbl': o.effect_tbl, 'evidence_id': o.effect_evidence_id, 'locator': o.effect_locator}]
                          AS evidence_refs
               FROM _linked o JOIN link_steps s ON s.evidence_id = o.cause_evidence_id AND s.locator = o.cause_locator""",
            [rule])
        con.execute(
            """INSERT INTO link_rows
               SELECT link_id, m.tbl, m.evidence_id, m.locator, m.ts
               FROM (SELECT link_id, unnest(member_refs) AS m FROM _linked)""")
        counts[rule] = int(con.execute("SELECT count(*) FROM _linked").fetchone()[0])
    con.execute("DROP TABLE IF EXISTS _linked")
    con.execute("DROP TABLE IF EXISTS _out")
    return counts


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", date_format="iso")) if not frame.empty else []


# ---------------------------------------------------------------------------------------- incidents

class _Components:
    """Union-find over trajectory ids."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def add(self, item: str) -> None:
        self.parent.setdefault(item, item)

    def find(self, item: str) -> str:
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        if a in self.parent and b in self.parent:
            ra, rb = self.find(a), self.find(b)
            if ra != rb:
                self.parent[max(ra, rb)] = min(ra, rb)


def build_incidents(con: duckdb.DuckDBPyConnection) -> int:
    """Chain links into incidents: trajectories with a serious, non-weak link, joined when they
    share an effect row or an outside indicator (address, name, URL or wallet). Sets
    ``links.incident_id`` for every link of those trajectories and writes the ``incidents`` rows
    (without answers). Returns the number of incidents."""
    con.execute("DELETE FROM incidents")
    con.execute("UPDATE links SET incident_id = NULL")
    seeds = [r[0] for r in con.execute(
        """SELECT DISTINCT l.trajectory_id FROM links l
           JOIN link_steps s ON s.evidence_id = l.cause_evidence_id AND s.locator = l.cause_locator
           WHERE s.serious AND NOT l.weak AND l.trajectory_id IS NOT NULL ORDER BY 1""").fetchall()]
    if not seeds:
        return 0
    components = _Components()
    for trajectory in seeds:
        components.add(trajectory)
    con.execute("CREATE OR REPLACE TEMP TABLE _seeds AS SELECT unnest(?::VARCHAR[]) AS trajectory_id", [seeds])
    shared_rows = con.execute(
        """SELECT DISTINCT a.trajectory_id, b.trajectory_id
           FROM link_rows ra JOIN links a ON a.link_id = ra.link_id
           JOIN link_rows rb ON rb.tbl = ra.tbl AND rb.evidence_id = ra.evidence_id AND rb.locator = ra.locator
           JOIN links b ON b.link_id = rb.link_id
           WHERE a.trajectory_id < b.trajectory_id
             AND a.trajectory_id IN (SELECT trajectory_id FROM _seeds)
             AND b.trajectory_id IN (SELECT trajectory_id FROM _seeds)""").fetchall()
    shared_indicators = con.execute(
        """WITH t AS (
               SELECT DISTINCT s.trajectory_id,
                      CASE WHEN x.target_kind = 'address' THEN 'ip:' || x.ip
                           WHEN x.target_kind IN ('name', 'url') THEN 'name:' || coalesce(x.hostname, lower(x.value))
                           WHEN x.target_kind = 'wallet' THEN 'wallet:' || x.value END AS indicator
               FROM link_step_targets x
               JOIN link_steps s ON s.evidence_id = x.evidence_id AND s.locator = x.locator
               WHERE s.serious AND s.trajectory_id IN (SELECT trajectory_id FROM _seeds)
                 AND x.category NOT IN ('recon', 'scan')
                 AND (x.target_kind IN ('name', 'url', 'wallet')
                      OR (x.target_kind = 'address' AND x.ip_lo = x.ip_hi AND NOT ip_is_cluster(x.ip)))
           )
           SELECT DISTINCT a.trajectory_id, b.trajectory_id FROM t a JOIN t b USING (indicator)
           WHERE a.trajectory_id < b.trajectory_id AND a.indicator IS NOT NULL""").fetchall()
    for a, b in shared_rows + shared_indicators:
        components.union(a, b)
    groups: dict[str, list[str]] = {}
    for trajectory in seeds:
        groups.setdefault(components.find(trajectory), []).append(trajectory)
    assignment = []
    for members in groups.values():
        assignment.extend((trajectory, min(members)) for trajectory in members)
    frame = pd.DataFrame(assignment, columns=["trajectory_id", "group_key"])
    con.register("_groups", frame)
    try:
        # incidents are numbered by their first suspicious step
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _incident_of AS
               WITH firsts AS (
                   SELECT g.group_key, min(s.ts) AS first_ts
                   FROM _groups g JOIN link_steps s ON s.trajectory_id = g.trajectory_id GROUP BY g.group_key
               )
               SELECT g.trajectory_id, CAST(dense_rank() OVER (ORDER BY f.first_ts, g.group_key) AS INTEGER) AS incident_id
               FROM _groups g JOIN firsts f USING (group_key)""")
    finally:
        con.unregister("_groups")
    con.execute("""UPDATE links SET incident_id = i.incident_id FROM _incident_of i
                   WHERE links.trajectory_id = i.trajectory_id""")
    con.execute(
        """INSERT INTO incidents BY NAME
           WITH inc AS (SELECT * FROM _incident_of),
           steps AS (SELECT i.incident_id, s.* FROM link_steps s JOIN inc i USING (trajectory_id)),
           agent_findings AS (
               SELECT i.incident_id, f.finding_id, f.severity
               FROM findings f, unnest(f.evidence_refs) AS u(r)
               JOIN link_steps s ON u.r.tbl = 'agent_steps' AND s.evidence_id = u.r.evidence_id AND s.locator = u.r.locator
               JOIN inc i ON i.trajectory_id = s.trajectory_id
               WHERE list_bool_and(list_transform(f.evidence_refs, lambda x: x.tbl = 'agent_steps'))
           ),
           linked_findings AS (
               SELECT l.incident_id, f.finding_id, f.severity FROM links l JOIN findings f ON f.finding_id = l.finding_id
               WHERE l.incident_id IS NOT NULL
           ),
           all_findings AS (SELECT * FROM agent_findings UNION SELECT * FROM linked_findings),
           sev AS (
               SELECT incident_id, count(DISTINCT finding_id) AS n_findings,
                      max(CASE lower(severity) WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2
                                               WHEN 'low' THEN 1 ELSE 0 END) AS rank
               FROM all_findings GROUP BY incident_id
           ),
           per AS (
               SELECT l.incident_id, count(*) AS n_links, max(l.effect_ts_end) AS last_effect,
                      list(DISTINCT l.effect_host) FILTER (WHERE l.effect_host IS NOT NULL) AS effect_hosts,
                      bool_or(l.effect_kind = 'probe') AS probe, bool_or(l.effect_kind = 'gpu_process') AS gpu,
                      bool_or(l.effect_kind = 'stratum_login') AS stratum
               FROM links l WHERE l.incident_id IS NOT NULL GROUP BY l.incident_id
           ),
           st AS (
               SELECT incident_id, min(ts) AS first_ts, max(ts_end) AS last_step,
                      list(DISTINCT host) FILTER (WHERE host IS NOT NULL) AS step_hosts,
                      list(DISTINCT trajectory_id ORDER BY trajectory_id) AS trajectories,
                      list(DISTINCT run_id ORDER BY run_id) FILTER (WHERE run_id IS NOT NULL) AS runs,
                      list(DISTINCT t ORDER BY t) AS techniques,
                      list(DISTINCT c ORDER BY c) AS categories,
                      arg_min(trajectory_id, ts) AS first_trajectory, arg_min(host, ts) AS first_host
               FROM (SELECT *, unnest(techniques) AS t, unnest(categories) AS c FROM steps)
               GROUP BY incident_id
           )
           SELECT st.incident_id,
                  concat_ws(', ',
                      CASE WHEN list_has_any(st.techniques, ['ssh_reverse_forward', 'reverse_shell']) THEN 'reverse tunnel'
                           WHEN list_contains(st.categories, 'tunnel') THEN 'tunnel' END,
                      CASE WHEN per.probe THEN 'internal probe' WHEN list_contains(st.categories, 'scan') THEN 'scan' END,
                      CASE WHEN list_contains(st.categories, 'download_exec') THEN 'download and run' END,
                      CASE WHEN per.stratum THEN 'crypto-mining' WHEN list_contains(st.categories, 'mining') THEN 'mining attempt' END,
                      CASE WHEN per.gpu THEN 'GPU diversion' END,
                      CASE WHEN list_contains(st.categories, 'credential_access') THEN 'credential access' END,
                      CASE WHEN list_contains(st.categories, 'persistence')
                                AND list_has_any(st.techniques, ['cron', 'systemd', 'shell_rc', 'authorized_keys']) THEN 'persistence' END,
                      CASE WHEN list_contains(st.categories, 'defense_evasion') THEN 'defence evasion' END)
                  || format(' by {}{} on {}', st.first_trajectory,
                            CASE WHEN len(st.trajectories) > 1 THEN format(' (+{} more trajectories)', len(st.trajectories) - 1)
                                 ELSE '' END, st.first_host) AS title,
                  CASE coalesce(sev.rank, 0) WHEN 4 THEN 'critical' WHEN 3 THEN 'high' WHEN 2 THEN 'medium'
                                             WHEN 1 THEN 'low' ELSE 'info' END AS severity,
                  st.first_ts, greatest(per.last_effect, st.last_step) AS last_ts,
                  list_sort(list_distinct(list_concat(st.step_hosts, coalesce(per.effect_hosts, [])))) AS hosts,
                  st.trajectories, st.runs, per.n_links, coalesce(sev.n_findings, 0) AS n_findings
           FROM st JOIN per USING (incident_id) LEFT JOIN sev USING (incident_id)""")
    con.execute("DROP TABLE IF EXISTS _seeds")
    con.execute("DROP TABLE IF EXISTS _incident_of")
    return int(con.execute("SELECT count(*) FROM incidents").fetchone()[0])


def answer_incidents(con: duckdb.DuckDBPyConnection, params: dict[str, Any] | None = None) -> None:
    """Run ``incident/*.sql`` answers and the unattributed list; store answers and summaries."""
    params = dict(params or {})
    _fill(con, "explained_benign", queryfiles.find("incident/benign_explanations"), params)
    _fill(con, "unattributed", queryfiles.find("incident/unattributed"), params)
    incident_ids = [r[0] for r in con.execute("SELECT incident_id FROM incidents ORDER BY incident_id").fetchall()]
    answers: dict[int | None, dict[str, Any]] = {i: {} for i in incident_ids}
    global_answers: dict[str, Any] = {}
    for query in queryfiles.discover("incident"):
        question = query.meta.get("answer")
        if not question:
            continue
        shape = query.meta.get("shape", "many")
        try:
            rows = con.execute(f"SELECT incident_id, to_json(answer)::VARCHAR FROM ({query.sql})",
                               _bind(query, params)).fetchall()
        except duckdb.Error as exc:
            raise QueryError(f"query {query.name} failed: {str(exc).splitlines()[0]}") from None
        for incident_id in incident_ids:
            answers[incident_id][question] = None if shape == "one" else []
        for incident_id, text in rows:
            value = _iso(json.loads(text))
            if incident_id is None:
                global_answers.setdefault(question, []).append(value)
                continue
            if incident_id not in answers:
                continue
            if shape == "one":
                answers[incident_id][question] = value
            else:
                answers[incident_id][question].append(value)
    unattributed = _iso(_records(con.execute(
        "SELECT item_kind, finding_id, kind, severity, ts_start, ts_end, host, src_ip, dst_ip, dst_port, n_records, "
        "summary, reason, related_incident_id FROM unattributed ORDER BY ts_start NULLS LAST, kind").df()))
    for incident_id in incident_ids:
        answer = answers[incident_id]
        gpus = answer.get("gpus") or []
        price = float(params.get("gpu_hour_price", queryfiles.find("incident/gpus").params["gpu_hour_price"].default))
        currency = str(params.get("currency", queryfiles.find("incident/gpus").params["currency"].default))
        gpu_hours = round(sum(g.get("gpu_hours") or 0 for g in gpus), 4)
        answer["gpus"] = {
            "diverted": gpus,
            "gpu_hours": gpu_hours,
            "gpu_seconds": round(sum(g.get("gpu_seconds") or 0 for g in gpus), 1),
            "estimated_cost": round(gpu_hours * price, 2),
            "gpu_hour_price": price,
            "currency": currency,
        }
        excluded = answer.get("trajectories_to_exclude") or []
        answer["trajectories_to_exclude"] = excluded
        answer["unattributed"] = [u for u in unattributed
                                  if u.get("related_incident_id") in (None, incident_id)]
        summary = _summary_text(answer)
        con.execute("UPDATE incidents SET answers = ?::JSON, summary = ? WHERE incident_id = ?",
                    [json.dumps(answer, sort_keys=True, default=str), summary, incident_id])


def _summary_text(answer: dict[str, Any]) -> str:
    """The incident's story in a few lines, from its answers."""
    lines = []
    first = answer.get("first_agent_action") or {}
    if first:
        lines.append(f"First agent action: {first.get('trajectory_id')} step {first.get('step')} at "
                     f"{_short_ts(first.get('ts'))}: {first.get('command')}")
    for probe in answer.get("probes") or []:
        lines.append(f"Probe: {probe.get('trajectory_id')} step {probe.get('step')} tried "
                     f"{probe.get('targets_attempted')} targets on {probe.get('hosts_attempted')} hosts "
                     f"({', '.join(probe.get('ranges_named') or [])}; ports "
                     f"{', '.join(str(p) for p in probe.get('ports_named') or [])}); answered: "
                     f"{', '.join(probe.get('answered') or []) or 'none'}")
    for tunnel in answer.get("tunnels") or []:
        endpoint = tunnel.get("endpoint") or {}
        lines.append(f"Tunnel: {tunnel.get('trajectory_id')} step {tunnel.get('step')} to "
                     f"{endpoint.get('user') + '@' if endpoint.get('user') else ''}{endpoint.get('ip')}:{endpoint.get('port')} "
                     f"{' '.join(tunnel.get('forwards') or [])}: {tunnel.get('status')}"
                     + (f", from {_short_ts(tunnel.get('start'))} for {tunnel.get('duration_s')} s"
                        if tunnel.get("start") else ""))
    for mining in answer.get("mining") or []:
        pool = mining.get("pool") or {}
        shares = mining.get("shares") or {}
        lines.append(f"Mining: {mining.get('trajectory_id')} step {mining.get('step')} to {pool.get('url') or pool.get('session')}"
                     f", coin {mining.get('coin')}, wallet {mining.get('wallet')}"
                     + (f", shares {shares.get('submitted')} submitted / {shares.get('accepted')} accepted / "
                        f"{shares.get('rejected')} rejected" if shares else ", shares unknown"))
    gpus = answer.get("gpus") or {}
    if gpus.get("diverted"):
        lines.append(f"GPUs diverted: {len(gpus['diverted'])} ("
                     + ", ".join(f"{g.get('host')} GPU {g.get('gpu_index')} {g.get('gpu_uuid')}" for g in gpus["diverted"])
                     + f"), {gpus.get('gpu_hours')} GPU-hours, about {gpus.get('estimated_cost')} {gpus.get('currency')}")
    latency = answer.get("detection_latency") or {}
    if latency.get("first_firewall_alert"):
        lines.append(f"Detection latency: {latency.get('latency_s')} s to the first firewall alert at "
                     f"{_short_ts(latency['first_firewall_alert'].get('ts'))}")
    elif latency:
        lines.append(f"Detection latency: unknown ({latency.get('note')})")
    excluded = answer.get("trajectories_to_exclude") or []
    if excluded:
        lines.append("Exclude from training data: " + ", ".join(e.get("trajectory_id") for e in excluded))
    return "\n".join(lines)


_SQL_TS = re.compile(r"^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)?\+00(?::00)?$")


def _iso(value: Any) -> Any:
    """DuckDB's JSON text of a UTC TIMESTAMPTZ (2026-02-17 02:13:05.12+00) as ISO 8601 with
    microseconds and Z, everywhere in a decoded answer."""
    if isinstance(value, str):
        match = _SQL_TS.match(value)
        if match:
            fraction = (match.group(3) or ".0")[1:]
            return f"{match.group(1)}T{match.group(2)}.{fraction[:6].ljust(6, '0')}Z"
        return value
    if isinstance(value, list):
        return [_iso(v) for v in value]
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    return value


def _short_ts(value: Any) -> str:
    if value is None:
        return "?"
    text = str(value)
    return text.replace("T", " ").rstrip("Z")[:23] + " UTC"


# ---------------------------------------------------------------------------------------- invariants

def check_invariants(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Run ``invariant/*.sql``: each must return no rows. Returns the row count of each."""
    counts = {}
    for query in queryfiles.discover("invariant"):
        try:
            counts[query.name] = int(con.execute(f"SELECT count(*) FROM ({query.sql})", query.bind({})).fetchone()[0])
        except duckdb.Error as exc:
            raise QueryError(f"query {query.name} failed: {str(exc).splitlines()[0]}") from None
    return counts


# ---------------------------------------------------------------------------------------- the stage

def link(con: duckdb.DuckDBPyConnection, params: dict[str, Any] | None = None) -> LinkResult:
    """The whole link stage: skew, staging, link rules, incidents, answers, unattributed,
    invariants. ``params`` are shared settings: each query takes those it declares; a setting no
    query of the stage declares is an error."""
    params = dict(params or {})
    unknown = sorted(set(params) - declared_params())
    if unknown:
        raise QueryError(f"no link query takes parameter {', '.join(unknown)} "
                         f"(they take: {', '.join(sorted(declared_params()))})")
    con.begin()
    try:
        offsets = estimate_skew(con, params)
        stage(con, params)
        by_rule = run_links(con, params)
        n_incidents = build_incidents(con)
        answer_incidents(con, params)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    result = LinkResult(clock_offsets=offsets, links_by_rule=by_rule, incidents=n_incidents,
                        unattributed=int(con.execute("SELECT count(*) FROM unattributed").fetchone()[0]))
    result.invariant_violations = {k: v for k, v in check_invariants(con).items() if v}
    return result


# ---------------------------------------------------------------------------------------- reading

def incidents_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("SELECT * FROM incidents ORDER BY incident_id").df()


def links_frame(con: duckdb.DuckDBPyConnection, incident: int | None = None,
                trajectory: str | None = None) -> pd.DataFrame:
    where, args = [], []
    if incident is not None:
        where.append("incident_id = ?")
        args.append(int(incident))
    if trajectory is not None:
        where.append("trajectory_id = ?")
        args.append(trajectory)
    sql = "SELECT * FROM links" + (" WHERE " + " AND ".join(where) if where else "")
    return con.execute(sql + " ORDER BY incident_id NULLS LAST, cause_ts, trajectory_id, step, effect_ts_corrected, "
                             "rule, link_id", args).df()


def exclusions_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    query = queryfiles.find("incident/exclusions")
    frame = con.execute(f"SELECT answer.* FROM ({query.sql})").df()
    if frame.empty:
        return pd.DataFrame(columns=["trajectory_id", "run_id", "incident_id", "reason"])
    return frame.drop_duplicates("trajectory_id").reset_index(drop=True)


def incident_records(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Incidents as plain dicts with their answers decoded (for JSON output and rendering)."""
    out = []
    for row in _records(incidents_frame(con)):
        answers = row.get("answers")
        row["answers"] = json.loads(answers) if isinstance(answers, str) else answers
        out.append(row)
    return out
