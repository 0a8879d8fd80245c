"""laurel's JSON rendering of Linux audit events (one event per line, ``/var/log/laurel/audit.log``).

laurel (threathunters-io/laurel) joins an event's records into one object keyed by record type:
``ID`` (``<epoch>.<ms>:<serial>``), ``SYSCALL`` (numbers as JSON numbers, ``syscall`` and its
translated name ``SYSCALL``), ``EXECVE`` (``ARGV`` list, or ``ARGV_STR`` joined), ``CWD``,
``PATH`` and ``SOCKADDR`` (lists), ``PROCTITLE`` (``ARGV``), ``PPID``/``PARENT_INFO`` (the parent's
event id, comm and exe) and ``CONTAINER_INFO``. Bytes that are not printable ASCII, ``%`` and
``+`` are percent-encoded. Fills ``processes`` and ``process_sockets`` like the auditd parser.
"""

from __future__ import annotations

import json
import uuid

import pyarrow as pa

from forensics.context import ParseContext, sql_string
from forensics.host import sockaddr
from forensics.host.lines import open_lines
from forensics.registry import Parser, Sniff, register


def sniff(s: Sniff) -> float:
    lines = s.first_nonblank_lines[:20]
    hits = 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("ID"), str) and ":" in record["ID"] and (
                "SYSCALL" in record or "EXECVE" in record or "PROCTITLE" in record):
            hits += 1
    if not hits:
        return 0.0
    return 0.95 if hits / len(lines) >= 0.5 else 0.6


def _decode_saddr(value: str | None) -> sockaddr.SockAddr:
    if value is None:
        return sockaddr.SockAddr(error="empty sockaddr")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if isinstance(parsed, dict):  # laurel's translated form: {"saddr_fam": "inet", "addr": ..., "port": ...}
        fam = parsed.get("saddr_fam") or parsed.get("family")
        text = "{ " + " ".join(f"{k}={v}" for k, v in (("saddr_fam", fam), ("laddr", parsed.get("addr")),
                                                       ("lport", parsed.get("port")), ("path", parsed.get("path")))
                               if v is not None) + " }"
        return sockaddr.decode_interpreted(text)
    return sockaddr.decode(str(parsed))


def parse(ctx: ParseContext) -> None:
    con = ctx.con
    tag = uuid.uuid4().hex[:10]
    ev, addr = f"_laurel_ev_{tag}", f"_laurel_addr_{tag}"
    host = sql_string(ctx.hints.host) if ctx.hints.host else "NULL"
    try:
        with open_lines(ctx) as lines:
            ctx.warn_many(f"""
                SELECT 'line:' || line_no AS locator,
                       CASE WHEN NOT json_valid(line) THEN 'not a JSON object (cut line?)'
                            ELSE 'JSON object without a laurel event ID' END AS reason, line AS excerpt
                FROM {lines.sql}
                WHERE nullif(trim(line), '') IS NOT NULL
                  AND (NOT json_valid(line) OR NOT regexp_full_match(coalesce(json_extract_string(line, '$.ID'), ''),
                                                                    '\\d+\\.\\d+:\\d+'))
            """)
            con.execute(f"""
                CREATE TEMP TABLE {ev} AS
                WITH e AS (
                    SELECT line_no, line::JSON AS j FROM {lines.sql}
                    WHERE nullif(trim(line), '') IS NOT NULL AND json_valid(line)
                      AND regexp_full_match(coalesce(json_extract_string(line, '$.ID'), ''), '\\d+\\.\\d+:\\d+')
                )
                SELECT line_no, j, j->>'$.ID' AS id,
                       to_timestamp(TRY_CAST(split_part(split_part(j->>'$.ID', ':', 1), '.', 1) AS BIGINT))
                           + to_milliseconds(TRY_CAST(split_part(split_part(j->>'$.ID', ':', 1), '.', 2) AS INTEGER)) AS ts,
                       coalesce(nullif(j->>'$.NODE', ''), nullif(j->>'$.node', ''), {host}) AS host,
                       regexp_replace(coalesce(j->>'$.SYSCALL.arch', ''), '^0x', '') AS arch,
                       coalesce(j->>'$.SYSCALL.SYSCALL',
                                audit_syscall_name(regexp_replace(coalesce(j->>'$.SYSCALL.arch', ''), '^0x', ''),
                                                   j->>'$.SYSCALL.syscall')) AS syscall,
                       CASE WHEN json_type(j, '$.SOCKADDR') = 'ARRAY'
                            THEN coalesce(json_extract(j, '$.SOCKADDR[0].SADDR')::VARCHAR,
                                          json_extract(j, '$.SOCKADDR[0].saddr')::VARCHAR) END AS saddr_json
                FROM e
            """)
        values = [r[0] for r in con.execute(
            f"SELECT DISTINCT saddr_json FROM {ev} WHERE saddr_json IS NOT NULL").fetchall()]
        decoded = [_decode_saddr(v) for v in values]
        con.register(f"{addr}_in", pa.table({
            "saddr_json": pa.array(values, pa.string()),
            "family": pa.array([d.family for d in decoded], pa.string()),
            "address": pa.array([d.address for d in decoded], pa.string()),
            "port": pa.array([d.port for d in decoded], pa.int32()),
            "path": pa.array([d.path for d in decoded], pa.string()),
            "error": pa.array([d.error for d in decoded], pa.string()),
        }))
        try:
            con.execute(f"CREATE TEMP TABLE {addr} AS SELECT * FROM {addr}_in")
        finally:
            con.unregister(f"{addr}_in")
        ctx.warn_many(f"""
            SELECT 'line:' || e.line_no AS locator, 'sockaddr not decoded: ' || d.error AS reason, e.saddr_json AS excerpt
            FROM {ev} e JOIN {addr} d USING (saddr_json) WHERE d.error IS NOT NULL
        """)
        ctx.insert("processes", f"""
            WITH p AS (
                SELECT *,
                    CASE WHEN json_type(j, '$.EXECVE.ARGV') = 'ARRAY'
                              THEN list_transform(json_extract_string(j, '$.EXECVE.ARGV[*]'), lambda a: url_decode(a))
                         WHEN j->>'$.EXECVE.ARGV_STR' IS NOT NULL THEN string_split(url_decode(j->>'$.EXECVE.ARGV_STR'), ' ')
                    END AS execve_argv,
                    CASE WHEN json_type(j, '$.PROCTITLE.ARGV') = 'ARRAY'
                              THEN list_transform(json_extract_string(j, '$.PROCTITLE.ARGV[*]'), lambda a: url_decode(a))
                    END AS proctitle_argv
                FROM {ev}
                WHERE json_exists(j, '$.EXECVE') OR syscall IN ('execve', 'execveat')
            )
            SELECT ts, NULL::TIMESTAMPTZ AS ts_end, id AS ts_raw, false AS ts_inferred, host,
                   TRY_CAST(j->>'$.SYSCALL.pid' AS BIGINT) AS pid, TRY_CAST(j->>'$.SYSCALL.ppid' AS BIGINT) AS ppid,
                   NULL::BIGINT AS ns_pid, TRY_CAST(j->>'$.SYSCALL.uid' AS BIGINT) AS uid,
                   nullif(TRY_CAST(j->>'$.SYSCALL.auid' AS BIGINT), 4294967295) AS auid,
                   j->>'$.SYSCALL.UID' AS user_name,
                   url_decode(j->>'$.SYSCALL.exe') AS exe, url_decode(j->>'$.SYSCALL.comm') AS comm,
                   coalesce(execve_argv, proctitle_argv) AS argv,
                   array_to_string(coalesce(execve_argv, proctitle_argv), ' ') AS cmdline,
                   CASE WHEN execve_argv IS NOT NULL THEN 'execve' WHEN proctitle_argv IS NOT NULL THEN 'proctitle' END AS argv_source,
                   url_decode(j->>'$.CWD.cwd') AS cwd, coalesce(syscall, 'execve') AS syscall,
                   CASE j->>'$.SYSCALL.success' WHEN 'yes' THEN true WHEN 'no' THEN false ELSE true END AS success,
                   CASE WHEN TRY_CAST(j->>'$.SYSCALL.exit' AS BIGINT) < 0 THEN errno_name(TRY_CAST(j->>'$.SYSCALL.exit' AS BIGINT))
                        ELSE j->>'$.SYSCALL.exit' END AS exit_code,
                   coalesce(container_id_norm(j->>'$.CONTAINER_INFO.id'),
                            nullif(regexp_extract(array_to_string(coalesce(execve_argv, proctitle_argv), ' '),
                                                  '--container-id[= ]+(\\S+)', 1), '')) AS container_id,
                   NULL AS pod, NULL AS k8s_namespace,
                   nullif(regexp_extract(array_to_string(coalesce(execve_argv, proctitle_argv), ' '),
                                         '--sandbox-id[= ]+(\\S+)', 1), '') AS sandbox,
                   coalesce(host, '') || ':' || id AS exec_id, NULL AS parent_exec_id,
                   url_decode(j->>'$.SYSCALL.key') AS audit_key, id AS event_id, 'laurel' AS source_format,
                   'line:' || line_no AS locator,
                   json_object('paths', json_extract_string(j, '$.PATH[*].name'),
                               'parent_event', coalesce(j->>'$.PPID.EVENT_ID', j->>'$.PARENT_INFO.ID'),
                               'parent_exe', coalesce(j->>'$.PPID.exe', j->>'$.PARENT_INFO.exe'),
                               'arch', nullif(arch, '')) AS extra
            FROM p
        """)
        ctx.insert("process_sockets", f"""
            SELECT e.ts, e.id AS ts_raw, false AS ts_inferred, e.host,
                   TRY_CAST(e.j->>'$.SYSCALL.pid' AS BIGINT) AS pid, TRY_CAST(e.j->>'$.SYSCALL.ppid' AS BIGINT) AS ppid,
                   url_decode(e.j->>'$.SYSCALL.exe') AS exe, url_decode(e.j->>'$.SYSCALL.comm') AS comm,
                   coalesce(e.syscall, 'connect') AS syscall, d.family,
                   CASE WHEN e.syscall = 'bind' THEN NULL ELSE d.address END AS remote_ip,
                   CASE WHEN e.syscall = 'bind' THEN NULL ELSE d.port END AS remote_port,
                   CASE WHEN e.syscall = 'bind' THEN d.address END AS local_ip,
                   CASE WHEN e.syscall = 'bind' THEN d.port END AS local_port,
                   d.path AS socket_path,
                   CASE WHEN TRY_CAST(e.j->>'$.SYSCALL.exit' AS BIGINT) IN (-115, -114, -11) THEN NULL
                        WHEN e.j->>'$.SYSCALL.success' = 'yes' THEN true
                        WHEN e.j->>'$.SYSCALL.success' = 'no' THEN false END AS success,
                   CASE WHEN TRY_CAST(e.j->>'$.SYSCALL.exit' AS BIGINT) < 0 THEN errno_name(TRY_CAST(e.j->>'$.SYSCALL.exit' AS BIGINT))
                        WHEN e.j->>'$.SYSCALL.success' = 'yes' THEN 'ok' END AS result,
                   container_id_norm(e.j->>'$.CONTAINER_INFO.id') AS container_id, NULL AS pod, NULL AS exec_id,
                   e.id AS event_id, 'laurel' AS source_format, 'line:' || e.line_no AS locator,
                   json_object('saddr', e.saddr_json, 'key', url_decode(e.j->>'$.SYSCALL.key')) AS extra
            FROM {ev} e JOIN {addr} d USING (saddr_json)
            WHERE e.syscall IS NULL OR e.syscall NOT IN ('execve', 'execveat')
        """)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {ev}")
        con.execute(f"DROP TABLE IF EXISTS {addr}")


register(Parser(
    name="laurel",
    description="laurel JSON audit events (one event per line): execve and socket events",
    tables=("processes", "process_sockets"),
    sniff=sniff,
    parse=parse,
    extensions=(".log", ".json"),
))
