"""Command analysis: ``agent_steps`` in, ``agent_actions`` (categorised indicators) and
``agent_scripts`` (files the agent wrote) out.

Candidates are filtered in DuckDB first (the shell module's keyword pattern, exec steps only, one
row per distinct command text), so Python parses each distinct candidate once however many
trajectories repeat it. Scripts written in one step (heredoc, ``echo >``, an editor tool) and run
in a later step of the same trajectory are analysed and attributed to both steps. Everything is
deterministic: re-running gives the same rows (``forensics agent analyse``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import duckdb
import pyarrow as pa

from .. import shell
from .steps import CONTENT_LIMIT

ANALYSER_VERSION = "1"

_IND_SCHEMA = pa.schema([
    ("key", pa.string()), ("category", pa.string()), ("technique", pa.string()), ("attack_id", pa.string()),
    ("indicator_kind", pa.string()), ("indicator_value", pa.string()), ("ip", pa.string()),
    ("ip_end", pa.string()), ("hostname", pa.string()), ("port", pa.int32()), ("detail", pa.string()),
    ("basis", pa.string()), ("confidence", pa.float64()), ("subcommand", pa.string()),
])
_ACTION_COLUMNS = """s.run_id, s.trajectory_id, s.step, s.call_index, s.ts, s.ts_basis, s.host, s.sandbox,
    s.sandbox_ip, i.category, i.technique, i.attack_id, i.indicator_kind, i.indicator_value, i.ip, i.ip_end,
    i.hostname, i.port, i.detail, i.basis, i.confidence, i.subcommand"""


def _rows(key: str, items: list[shell.Indicator], cols: dict[str, list[Any]], basis_prefix: str = "") -> None:
    for ind in items:
        cols["key"].append(key)
        cols["category"].append(ind.category)
        cols["technique"].append(ind.technique)
        cols["attack_id"].append(ind.attack_id)
        cols["indicator_kind"].append(ind.kind)
        cols["indicator_value"].append(ind.value[:2048])
        cols["ip"].append(ind.ip)
        cols["ip_end"].append(ind.ip_end)
        cols["hostname"].append(ind.hostname)
        cols["port"].append(ind.port if ind.port is None or 0 <= ind.port < 65536 else None)
        cols["detail"].append(ind.detail)
        cols["basis"].append(basis_prefix + ind.basis if basis_prefix else ind.basis)
        cols["confidence"].append(ind.confidence)
        cols["subcommand"].append(ind.command or None)


def _empty() -> dict[str, list[Any]]:
    return {f.name: [] for f in _IND_SCHEMA}


def _insert_indicators(con: duckdb.DuckDBPyConnection, cols: dict[str, list[Any]]) -> None:
    if cols["key"]:
        con.register("_agent_ind_batch", pa.Table.from_pydict(cols, schema=_IND_SCHEMA))
        try:
            con.execute("INSERT INTO _agent_ind SELECT * FROM _agent_ind_batch").fetchall()
        finally:
            con.unregister("_agent_ind_batch")


def analyse_evidence(con: duckdb.DuckDBPyConnection, evidence_id: int | None = None,
                     chunk: int = 20_000) -> dict[str, int]:
    """Analyse the exec steps of one evidence file (or of the whole case when ``evidence_id`` is
    None, after clearing earlier results) and return row counts.

    Set-based: the distinct candidate texts (SQL prefilter) are analysed once each into a temporary
    indicator table, which is then joined to the steps in one statement per output table."""
    where = "evidence_id = $eid" if evidence_id is not None else "true"
    s_where = where.replace("evidence_id", "s.evidence_id")
    params: dict[str, Any] = {"eid": evidence_id} if evidence_id is not None else {}
    if evidence_id is None:
        con.execute("DELETE FROM agent_actions").fetchall()
        con.execute("DELETE FROM agent_scripts").fetchall()
    else:
        con.execute("DELETE FROM agent_actions WHERE evidence_id = $eid", params).fetchall()
        con.execute("DELETE FROM agent_scripts WHERE evidence_id = $eid", params).fetchall()
    counts = {"candidates": 0, "actions": 0, "scripts": 0}
    columns = ", ".join(f"{f.name} {'INTEGER' if f.name == 'port' else 'DOUBLE' if f.name == 'confidence' else 'VARCHAR'}"
                        for f in _IND_SCHEMA)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _agent_ind ({columns})").fetchall()
    con.execute("CREATE OR REPLACE TEMP TABLE _agent_scr (key VARCHAR, path VARCHAR, how VARCHAR, content VARCHAR, "
                "content_sha256 VARCHAR)").fetchall()
    try:
        # 1. distinct candidate command texts, parsed once each however many steps repeat them
        # (kept in a temporary table and read in slices: the step rows are not committed yet, so
        # only this connection sees them, and it cannot hold an open result while it writes)
        n_candidates = con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _agent_cand AS
                SELECT command, row_number() OVER () - 1 AS n FROM (
                    SELECT DISTINCT command FROM agent_steps
                    WHERE {where} AND action = 'exec' AND command IS NOT NULL AND regexp_matches(command, $pattern))""",
            {**params, "pattern": shell.CANDIDATE_PATTERN}).fetchall()[0][0]
        for offset in range(0, n_candidates, chunk):
            batch = con.execute("SELECT command FROM _agent_cand WHERE n >= $a AND n < $b ORDER BY n",
                                {"a": offset, "b": offset + chunk}).fetchall()
            cols = _empty()
            script_rows: dict[str, list[Any]] = {"key": [], "path": [], "how": [], "content": [], "content_sha256": []}
            for (command,) in batch:
                analysis = shell.analyse(command)
                counts["candidates"] += 1
                _rows(command, analysis.indicators, cols)
                for script in analysis.scripts_written:
                    script_rows["key"].append(command)
                    script_rows["path"].append(script.path)
                    script_rows["how"].append(script.how)
                    script_rows["content"].append(script.content[:CONTENT_LIMIT])
                    script_rows["content_sha256"].append(
                        hashlib.sha256(script.content.encode("utf-8", "replace")).hexdigest())
            _insert_indicators(con, cols)
            if script_rows["key"]:
                con.register("_agent_scr_batch", pa.Table.from_pydict(script_rows))
                try:
                    con.execute("INSERT INTO _agent_scr SELECT * FROM _agent_scr_batch").fetchall()
                finally:
                    con.unregister("_agent_scr_batch")
        # one join of the indicators back onto every step that ran the same text
        counts["actions"] += con.execute(
            f"""INSERT INTO agent_actions BY NAME
                SELECT {_ACTION_COLUMNS}, NULL::INTEGER AS source_step,
                       '{ANALYSER_VERSION}' AS analyser_version, s.evidence_id, s.locator
                FROM agent_steps s JOIN _agent_ind i ON s.command = i.key
                WHERE {s_where} AND s.action = 'exec'""", params).fetchall()[0][0]

        # 2. scripts: heredoc / echo > in exec steps, and files written by editor tools
        counts["scripts"] += con.execute(
            f"""INSERT INTO agent_scripts BY NAME
                SELECT s.run_id, s.trajectory_id, s.step, s.call_index, c.path, c.how, c.content,
                       c.content_sha256, s.evidence_id, s.locator
                FROM agent_steps s JOIN _agent_scr c ON s.command = c.key
                WHERE {s_where} AND s.action = 'exec'""", params).fetchall()[0][0]
        counts["scripts"] += con.execute(
            f"""INSERT INTO agent_scripts BY NAME
                SELECT run_id, trajectory_id, step, call_index, file_path AS path, 'editor' AS how,
                       file_content AS content, sha256(file_content) AS content_sha256, evidence_id, locator
                FROM agent_steps
                WHERE {where} AND action IN ('write', 'edit') AND file_path IS NOT NULL AND file_content IS NOT NULL""",
            params).fetchall()[0][0]

        # 3. editor writes into persistence locations (shell rc files, authorized_keys, cron, systemd)
        con.execute("DELETE FROM _agent_ind").fetchall()
        cols = _empty()
        for path, in con.execute(
                f"""SELECT DISTINCT file_path FROM agent_steps WHERE {where} AND action IN ('write', 'edit')
                    AND file_path IS NOT NULL""", params).fetchall():
            probe = shell.analyse(f"cat > {shell_quote(path)}")
            _rows(path, [i for i in probe.indicators if i.category == "persistence"], cols, basis_prefix="editor+")
        _insert_indicators(con, cols)
        counts["actions"] += con.execute(
            f"""INSERT INTO agent_actions BY NAME
                SELECT {_ACTION_COLUMNS}, NULL::INTEGER AS source_step, '{ANALYSER_VERSION}' AS analyser_version,
                       s.evidence_id, s.locator
                FROM agent_steps s JOIN _agent_ind i ON s.file_path = i.key
                WHERE {s_where} AND s.action IN ('write', 'edit')""", params).fetchall()[0][0]

        # 4. scripts run in a later step of the same trajectory: attributed to the run and the write
        #    (only scripts whose content can flag anything are paired and analysed)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _agent_pairs AS
                SELECT s.evidence_id, s.locator AS run_locator, s.step AS run_step, sc.locator AS written_locator,
                       sc.step AS written_step, sc.content_sha256 || '|' || sc.path AS key, sc.path,
                       sc.content
                FROM (SELECT * FROM agent_scripts WHERE {where} AND content IS NOT NULL
                        AND regexp_matches(content, $pattern)) sc
                JOIN agent_steps s
                  ON s.evidence_id = sc.evidence_id AND s.trajectory_id IS NOT DISTINCT FROM sc.trajectory_id
                 AND (s.step > sc.step OR (s.step = sc.step AND s.call_index > sc.call_index))
                 AND s.action = 'exec' AND contains(s.command, regexp_extract(sc.path, '[^/]+$'))""",
            {**params, "pattern": shell.CANDIDATE_PATTERN}).fetchall()
        runs = con.execute("SELECT key, any_value(path), any_value(content) FROM _agent_pairs GROUP BY key").fetchall()
        con.execute("DELETE FROM _agent_ind").fetchall()
        cols = _empty()
        for key, path, content in runs:
            _rows(key, shell.script_indicators(path, content or ""), cols, basis_prefix=f"script:{path}+")
        _insert_indicators(con, cols)
        if cols["key"]:
            counts["actions"] += con.execute(
                f"""INSERT INTO agent_actions BY NAME
                    SELECT {_ACTION_COLUMNS}, p.written_step AS source_step,
                           '{ANALYSER_VERSION}' AS analyser_version, s.evidence_id, s.locator
                    FROM _agent_pairs p
                    JOIN agent_steps s ON s.evidence_id = p.evidence_id AND s.locator = p.run_locator
                    JOIN _agent_ind i ON i.key = p.key""").fetchall()[0][0]
            counts["actions"] += con.execute(
                f"""INSERT INTO agent_actions BY NAME
                    SELECT {_ACTION_COLUMNS.replace('i.basis', "replace(i.basis, 'script:', 'written:') AS basis")},
                           p.run_step AS source_step, '{ANALYSER_VERSION}' AS analyser_version,
                           s.evidence_id, s.locator
                    FROM (SELECT evidence_id, written_locator, key, min(run_step) AS run_step
                          FROM _agent_pairs GROUP BY ALL) p
                    JOIN agent_steps s ON s.evidence_id = p.evidence_id AND s.locator = p.written_locator
                    JOIN _agent_ind i ON i.key = p.key""").fetchall()[0][0]
    finally:
        for table in ("_agent_pairs", "_agent_ind", "_agent_scr", "_agent_cand"):
            con.execute(f"DROP TABLE IF EXISTS {table}").fetchall()
    return counts


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def add_leases(ctx: Any) -> int:
    """Identity facts from this evidence's steps: each trajectory (host, sandbox, time span), each
    sandbox, container, and the time-bounded sandbox → IP → host lease that firewalls join on."""
    eid = int(ctx.evidence_id)
    return ctx.insert("entities", f"""
        WITH t AS (
            SELECT trajectory_id, any_value(run_id) AS run_id, any_value(host) AS host,
                   any_value(sandbox) AS sandbox, any_value(sandbox_ip) AS sandbox_ip,
                   any_value(container_id) AS container_id, min(ts) AS valid_from,
                   max(coalesce(ts_end, ts)) AS valid_to, min(locator) AS locator
            FROM agent_steps WHERE evidence_id = {eid} AND trajectory_id IS NOT NULL
            GROUP BY trajectory_id
        )
        SELECT 'trajectory' AS kind, trajectory_id AS value, host, run_id AS job, sandbox, valid_from, valid_to,
               json_object('run_id', run_id, 'sandbox_ip', sandbox_ip, 'container_id', container_id) AS attributes,
               '{ctx.parser_name}' AS source, locator
        FROM t
        UNION ALL
        SELECT 'sandbox', sandbox, any_value(host), any_value(run_id), sandbox, min(valid_from), max(valid_to),
               json_object('ip', any_value(sandbox_ip), 'container_id', any_value(container_id)),
               '{ctx.parser_name}', min(locator)
        FROM t WHERE sandbox IS NOT NULL GROUP BY sandbox
        UNION ALL
        SELECT 'ip', sandbox_ip, host, any_value(run_id), sandbox, min(valid_from), max(valid_to),
               json_object('lease', 'sandbox', 'trajectories', count(*)), '{ctx.parser_name}', min(locator)
        FROM t WHERE sandbox_ip IS NOT NULL GROUP BY sandbox_ip, host, sandbox
        UNION ALL
        SELECT 'container', container_id, any_value(host), any_value(run_id), any_value(sandbox), min(valid_from),
               max(valid_to), NULL, '{ctx.parser_name}', min(locator)
        FROM t WHERE container_id IS NOT NULL GROUP BY container_id
    """)


def finish(ctx: Any, leases: bool = True) -> dict[str, int]:
    """What every transcript parser does after writing its steps: leases, then command analysis."""
    if leases:
        add_leases(ctx)
    counts = analyse_evidence(ctx.con, ctx.evidence_id)
    ctx.records["agent_actions"] += counts["actions"]
    ctx.records["agent_scripts"] += counts["scripts"]
    return counts

