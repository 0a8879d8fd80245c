"""Tetragon JSON events (``tetragon.log`` or ``tetra getevents -o json``): ``process_exec``,
``process_exit`` and ``process_kprobe`` on connect hooks (``tcp_connect``, ``__sys_connect`` ...),
each with the process (exec_id, pid, binary, arguments, cwd, start time) and its Kubernetes pod
and container.

Fills ``processes`` (one row per exec, its exit time when the exit is in the same file; an exit
whose exec is not in the file still records the launch from the exit's process block) and
``process_sockets`` (one row per connect kprobe). Tetragon states each launch's parent exec_id,
so the parent chain needs no pid matching.
"""

from __future__ import annotations

import json

from forensics.context import ParseContext, sql_string
from forensics.host.lines import open_lines
from forensics.registry import Parser, Sniff, register

KINDS = ("process_exec", "process_exit", "process_kprobe", "process_tracepoint", "process_lsm",
         "process_uprobe", "process_loader", "process_throttle")
CONNECT_FUNCTIONS = ("tcp_connect", "tcp_v4_connect", "tcp_v6_connect", "__sys_connect", "sys_connect",
                     "__x64_sys_connect", "__arm64_sys_connect", "security_socket_connect", "inet_stream_connect",
                     "udp_sendmsg", "ip4_datagram_connect")


def sniff(s: Sniff) -> float:
    lines = s.first_nonblank_lines[:20]
    hits = 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and any(k in record for k in KINDS) and (
                "node_name" in record or "time" in record):
            hits += 1
    if not hits:
        return 0.0
    return 0.95 if hits / len(lines) >= 0.5 else 0.6


def _kind_case() -> str:
    return "CASE " + " ".join(f"WHEN json_exists(j, '$.{k}') THEN '{k}'" for k in KINDS) + " END"


def _process_columns(p: str, parent: str) -> str:
    """processes columns from a Tetragon Process block ``p`` and its parent block."""
    return f"""
        {p}->>'$.pid' AS pid_text,
        TRY_CAST({p}->>'$.pid' AS BIGINT) AS pid,
        TRY_CAST({parent}->>'$.pid' AS BIGINT) AS ppid,
        TRY_CAST({p}->>'$.pod.container.pid' AS BIGINT) AS ns_pid,
        TRY_CAST({p}->>'$.uid' AS BIGINT) AS uid,
        nullif(TRY_CAST({p}->>'$.auid' AS BIGINT), 4294967295) AS auid,
        {p}->>'$.binary' AS exe,
        {p}->>'$.arguments' AS arguments,
        nullif({p}->>'$.cwd', '') AS cwd,
        container_id_norm(coalesce({p}->>'$.pod.container.id', {p}->>'$.docker')) AS container_id,
        {p}->>'$.pod.name' AS pod,
        {p}->>'$.pod.namespace' AS k8s_namespace,
        {p}->>'$.exec_id' AS exec_id,
        coalesce({p}->>'$.parent_exec_id', {parent}->>'$.exec_id') AS parent_exec_id,
        TRY_CAST({p}->>'$.start_time' AS TIMESTAMPTZ) AS start_ts,
        {p}->>'$.start_time' AS start_raw,
        json_object('flags', {p}->>'$.flags', 'image', {p}->>'$.pod.container.image.name',
                    'workload', {p}->>'$.pod.workload', 'pod_labels', {p}->'$.pod.pod_labels',
                    'parent_binary', {parent}->>'$.binary') AS extra"""


def parse(ctx: ParseContext) -> None:
    con = ctx.con
    host = sql_string(ctx.hints.host) if ctx.hints.host else "NULL"
    table = f"_tetragon_{ctx.evidence_id}"
    with open_lines(ctx) as lines:
        con.execute(f"""
            CREATE TEMP TABLE {table} AS
            WITH e AS (
                SELECT line_no, line::JSON AS j FROM {lines.sql}
                WHERE nullif(trim(line), '') IS NOT NULL AND json_valid(line)
            )
            SELECT line_no, j, {_kind_case()} AS kind,
                   TRY_CAST(j->>'$.time' AS TIMESTAMPTZ) AS ts, j->>'$.time' AS ts_raw,
                   coalesce(nullif(j->>'$.node_name', ''), {host}) AS host
            FROM e
        """)
        ctx.warn_many(f"""
            SELECT 'line:' || line_no AS locator, 'not a JSON object (cut line?)' AS reason, line AS excerpt
            FROM {lines.sql} WHERE nullif(trim(line), '') IS NOT NULL AND NOT json_valid(line)
        """)
    try:
        ctx.warn_many(f"""
            SELECT 'line:' || line_no AS locator, 'JSON object that is not a Tetragon event' AS reason,
                   left(j::VARCHAR, 240) AS excerpt
            FROM {table} WHERE kind IS NULL
            UNION ALL
            SELECT NULL, count(*) || ' ' || coalesce(kind || ' ' || (j->>('$.' || kind || '.function_name')), kind)
                         || ' events are not process launches or connects: not loaded', NULL
            FROM {table}
            WHERE kind IN ('process_tracepoint', 'process_lsm', 'process_uprobe', 'process_loader', 'process_throttle')
               OR (kind = 'process_kprobe'
                   AND j->>'$.process_kprobe.function_name' NOT IN ({", ".join(sql_string(f) for f in CONNECT_FUNCTIONS)}))
            GROUP BY kind, j->>('$.' || kind || '.function_name')
        """)
        _insert_processes(ctx, table)
        _insert_sockets(ctx, table)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _insert_processes(ctx: ParseContext, table: str) -> None:
    # Launches from exec events; launches known only from their exit (exec before the file began).
    ctx.insert("processes", f"""
        WITH ex AS (
            SELECT line_no, ts, ts_raw, host, {_process_columns("j->'$.process_exec.process'", "j->'$.process_exec.parent'")}
            FROM {table} WHERE kind = 'process_exec'
        ), exits AS (
            SELECT line_no, coalesce(TRY_CAST(j->>'$.process_exit.time' AS TIMESTAMPTZ), ts) AS exit_ts,
                   j->>'$.process_exit.signal' AS signal, j->>'$.process_exit.status' AS status,
                   ts_raw, host,
                   {_process_columns("j->'$.process_exit.process'", "j->'$.process_exit.parent'")}
            FROM {table} WHERE kind = 'process_exit'
        ), launches AS (
            SELECT ex.*, x.exit_ts, x.signal, x.status, 'process_exec' AS seen_in FROM ex
            LEFT JOIN (SELECT * FROM exits QUALIFY row_number() OVER (PARTITION BY exec_id ORDER BY line_no) = 1) x
                USING (exec_id)
            UNION ALL
            SELECT line_no, start_ts AS ts, start_raw AS ts_raw, host,
                   pid_text, pid, ppid, ns_pid, uid, auid, exe, arguments, cwd, container_id, pod, k8s_namespace,
                   exec_id, parent_exec_id, start_ts, start_raw, extra, exit_ts, signal, status, 'process_exit'
            FROM exits WHERE exec_id IS NULL OR exec_id NOT IN (SELECT exec_id FROM ex WHERE exec_id IS NOT NULL)
        )
        SELECT coalesce(start_ts, ts) AS ts, exit_ts AS ts_end, coalesce(start_raw, ts_raw) AS ts_raw,
               false AS ts_inferred, host, pid, ppid, ns_pid, uid, auid, NULL AS user_name, exe,
               regexp_extract(exe, '[^/]*$') AS comm,
               list_prepend(exe, list_transform(regexp_extract_all(coalesce(arguments, ''), '"[^"]*"|\\S+'),
                   lambda a: CASE WHEN length(a) >= 2 AND starts_with(a, '"') AND ends_with(a, '"')
                                  THEN substr(a, 2, length(a) - 2) ELSE a END)) AS argv,
               trim(exe || ' ' || coalesce(arguments, '')) AS cmdline, 'arguments' AS argv_source, cwd,
               'execve' AS syscall, true AS success, NULL AS exit_code, container_id, pod, k8s_namespace,
               coalesce(nullif(regexp_extract(arguments, '--sandbox-id[= ]+"?([^" ]+)', 1), ''),
                        extra->>'$.pod_labels."sandbox-id"', extra->>'$.pod_labels.sandbox') AS sandbox,
               exec_id, parent_exec_id, NULL AS audit_key, exec_id AS event_id,
               'tetragon' AS source_format, 'line:' || line_no AS locator,
               json_merge_patch(extra, json_object('seen_in', seen_in, 'exit_signal', signal,
                                                   'exit_status', status)) AS extra
        FROM launches
    """)


def _insert_sockets(ctx: ParseContext, table: str) -> None:
    functions = ", ".join(sql_string(f) for f in CONNECT_FUNCTIONS)
    ctx.insert("process_sockets", f"""
        WITH k AS (
            SELECT line_no, ts, ts_raw, host, j->'$.process_kprobe' AS kp,
                   j->'$.process_kprobe.process' AS p, j->'$.process_kprobe.parent' AS par,
                   j->>'$.process_kprobe.function_name' AS fn
            FROM {table} WHERE kind = 'process_kprobe' AND j->>'$.process_kprobe.function_name' IN ({functions})
        ), a AS (
            SELECT *, coalesce(kp->'$.args[0].sock_arg', kp->'$.args[1].sock_arg') AS sock,
                   coalesce(kp->'$.args[0].sockaddr_arg', kp->'$.args[1].sockaddr_arg') AS sa,
                   TRY_CAST(kp->>'$.return.int_arg' AS BIGINT) AS ret
            FROM k
        )
        SELECT ts, ts_raw, false AS ts_inferred, host,
               TRY_CAST(p->>'$.pid' AS BIGINT) AS pid, TRY_CAST(par->>'$.pid' AS BIGINT) AS ppid,
               p->>'$.binary' AS exe, regexp_extract(p->>'$.binary', '[^/]*$') AS comm,
               fn AS syscall,
               CASE lower(coalesce(sock->>'$.family', sa->>'$.family'))
                    WHEN 'af_inet' THEN 'inet' WHEN 'af_inet6' THEN 'inet6' WHEN 'af_unix' THEN 'local'
                    ELSE lower(coalesce(sock->>'$.family', sa->>'$.family')) END AS family,
               coalesce(sock->>'$.daddr', sa->>'$.addr') AS remote_ip,
               TRY_CAST(coalesce(sock->>'$.dport', sa->>'$.port') AS INTEGER) AS remote_port,
               sock->>'$.saddr' AS local_ip, TRY_CAST(sock->>'$.sport' AS INTEGER) AS local_port,
               NULL AS socket_path,
               CASE WHEN ret IS NULL THEN NULL WHEN ret = 0 THEN true
                    WHEN ret IN (-115, -114) THEN NULL ELSE false END AS success,
               CASE WHEN ret IS NULL THEN 'attempt' ELSE errno_name(ret) END AS result,
               container_id_norm(coalesce(p->>'$.pod.container.id', p->>'$.docker')) AS container_id,
               p->>'$.pod.name' AS pod, p->>'$.exec_id' AS exec_id, NULL AS event_id,
               'tetragon' AS source_format, 'line:' || line_no AS locator,
               json_object('function', fn, 'policy', kp->>'$.policy_name', 'state', sock->>'$.state',
                           'protocol', sock->>'$.protocol') AS extra
        FROM a
        WHERE sock IS NOT NULL OR sa IS NOT NULL
    """)


register(Parser(
    name="tetragon",
    description="Tetragon JSON events: process_exec/exit and connect kprobes with pod and container",
    tables=("processes", "process_sockets"),
    sniff=sniff,
    parse=parse,
    extensions=(".json", ".jsonl", ".log"),
))
