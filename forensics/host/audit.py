"""Linux audit logs (``/var/log/audit/audit.log``, raw or ``ausearch -i``) into processes and sockets.

The kernel writes one event as several records (lines) that share ``msg=audit(<epoch>.<ms>:<serial>)``:
SYSCALL (arch, syscall, success, exit, pid, ppid, uid, auid, comm, exe, key), EXECVE (argc and
a0..aN, hex-encoded when an argument holds spaces, quotes or control bytes, and split into
``aN_len``/``aN[i]`` chunks over several EXECVE records when it is long), PROCTITLE (hex, NUL
between arguments, cut at 128 bytes), CWD, PATH and SOCKADDR (hex ``struct sockaddr``). Records of
one event may be interleaved with other events, come out of order, and carry ``node=`` when
several hosts write one file; grouping is by (node, event id), never by position.

``ausearch -i`` prints the same records interpreted: local time (``02/17/2026 10:12:03.123:456``,
the zone of the machine that ran it, taken from the host's time-zone hint), names for numbers
(``syscall=connect uid=root``), arguments decoded and unquoted, and sockaddr decoded
(``{ saddr_fam=inet laddr=203.0.113.50 lport=22 }``).

Everything runs in DuckDB over the file's lines; Python only decodes the (few, distinct) socket
addresses. Events become ``processes`` rows (execve/execveat) and ``process_sockets`` rows
(connect, bind, accept, sendto, sendmsg with a SOCKADDR).
"""

from __future__ import annotations

import uuid

import pyarrow as pa

from forensics.context import ParseContext, sql_string

from . import sockaddr
from .lines import open_lines

RECORD_TYPES = {
    "SYSCALL": "SYSCALL", "EXECVE": "EXECVE", "PROCTITLE": "PROCTITLE", "CWD": "CWD",
    "SOCKADDR": "SOCKADDR", "PATH": "PATH",
    # kernel printk form (audit: type=1300 audit(...)) numbers the types
    "1300": "SYSCALL", "1309": "EXECVE", "1327": "PROCTITLE", "1307": "CWD", "1306": "SOCKADDR",
    "1302": "PATH",
}
# Syscalls kept as events (names for ausearch -i, numbers for x86_64/aarch64/i386).
EVENT_SYSCALLS = ("execve|execveat|connect|bind|accept|accept4|sendto|sendmsg"
                  "|59|322|42|49|43|288|44|46|221|281|203|200|202|242|206|211|11|358|362|361|364|369|370")
# Lines ausearch prints between events; not records, not problems.
SEPARATOR_RE = r"^\s*$|^----$|^time->"


def _type_case(column: str) -> str:
    whens = " ".join(f"WHEN {sql_string(k)} THEN {sql_string(v)}" for k, v in RECORD_TYPES.items() if k != v)
    return f"CASE {column} {whens} ELSE {column} END"


def parse_audit(ctx: ParseContext, source_format: str = "auditd") -> None:
    con = ctx.con
    tag = uuid.uuid4().hex[:10]
    rec, ev, f, args, addr = (f"_audit_rec_{tag}", f"_audit_ev_{tag}", f"_audit_f_{tag}", f"_audit_args_{tag}",
                              f"_audit_addr_{tag}")
    tz = ctx.hints.timezone or "UTC"
    hint_host = ctx.hints.host
    try:
        with open_lines(ctx) as lines:
            _split_records(con, lines.sql, rec)
        _warn_unrecognised(ctx, rec)
        _group_events(con, rec, ev)
        con.execute(f"DROP TABLE {rec}")
        con.execute(f"DROP TABLE {rec}_fb")
        _fields(con, ev, f, tz, hint_host)
        _arguments(con, f, args)
        _sockaddrs(con, f, addr)
        _warn_events(ctx, f, args, addr)
        _insert_processes(ctx, f, args, source_format)
        _insert_sockets(ctx, f, addr, source_format)
        if ctx.hints.timezone is None:
            interpreted = con.execute(f"SELECT count(*) FROM {f} WHERE interpreted").fetchone()[0]
            if interpreted:
                ctx.warn(None, "ausearch -i prints local times and no time-zone hint was given: "
                               f"{interpreted} events read as UTC (use --tz)", None)
    finally:
        for table in (rec, rec + "_fb", ev, f, args, addr):
            con.execute(f"DROP TABLE IF EXISTS {table}")


def _warn_unrecognised(ctx: ParseContext, rec: str) -> None:
    """Lines that are neither an audit record nor an ausearch separator, counted and shown."""
    ctx.warn_many(f"""
        SELECT 'line:' || line_no AS locator,
               CASE WHEN contains(body, 'audit(') THEN 'audit record without a readable event id'
                    ELSE 'not an audit record' END AS reason,
               body AS excerpt
        FROM {rec}_fb
    """)


RECORD_PREFIX = r"(?:node=(\S+) )?type=([A-Z_0-9]+) (?:msg=)?audit\(([^)]*)\)"
KEPT_TYPES = ("SYSCALL", "EXECVE", "PROCTITLE", "CWD", "SOCKADDR", "PATH")


def _split_records(con, lines: str, rec: str) -> None:
    """Each line as node, type, event id (stamp) and body, in one scan of the file. Only the record
    types that make processes and sockets are kept, plus lines the prefix pattern did not match.
    The pattern is anchored (a capture over the whole line, or an unanchored search, costs several
    times the scan); lines with something before the record (a syslog header) are matched again
    unanchored afterwards, and what still does not match becomes a warning. Type names are not
    mapped here: a CASE over the capture in the filter would evaluate the expression per branch."""
    kept = ", ".join(sql_string(t) for t in RECORD_TYPES)
    con.execute(f"""
        CREATE TEMP TABLE {rec} AS
        SELECT line_no, m.node AS node, m.type AS type, m.stamp AS stamp,
               CASE WHEN m.type = '' THEN line ELSE ltrim(substr(line, strpos(line, ')') + 1), ' :') END AS body
        FROM (SELECT line_no, line, regexp_extract(line, {sql_string('^' + RECORD_PREFIX)},
                                                   ['node', 'type', 'stamp']) AS m
              FROM {lines})
        WHERE (m.type IN ({kept}) AND m.stamp <> '')
           OR (m.type = '' AND line IS NOT NULL AND NOT regexp_matches(line, '{SEPARATOR_RE}'))
    """)
    con.execute(f"""
        CREATE TEMP TABLE {rec}_fb AS
        SELECT line_no, m.node AS node, m.type AS type, m.stamp AS stamp,
               CASE WHEN m.type = '' OR m.stamp = '' THEN line
                    ELSE ltrim(substr(line, strpos(line, 'audit(' || m.stamp || ')') + length(m.stamp) + 7), ' :')
               END AS body
        FROM (SELECT line_no, body AS line, regexp_extract(body, {sql_string(RECORD_PREFIX)},
                                                           ['node', 'type', 'stamp']) AS m
              FROM {rec} WHERE type = '')
        WHERE m.type IN ({kept}) OR m.type = '' OR m.stamp = ''
    """)
    con.execute(f"DELETE FROM {rec} WHERE type = ''")
    con.execute(f"INSERT INTO {rec} SELECT * FROM {rec}_fb WHERE type <> '' AND stamp <> ''")
    con.execute(f"DELETE FROM {rec}_fb WHERE type <> '' AND stamp <> ''")


def _group_events(con, rec: str, ev: str) -> None:
    """One row per event that can hold a launch or a socket, with the bodies of its records."""
    con.execute(f"""
        CREATE TEMP TABLE {ev} AS
        WITH r AS (SELECT line_no, node, {_type_case('type')} AS type, stamp, body FROM {rec})
        SELECT node, stamp,
               min(line_no) AS first_line,
               count(*) AS n_records,
               count(*) FILTER (WHERE type = 'SYSCALL') AS n_syscall,
               min(line_no) FILTER (WHERE type = 'SYSCALL') AS syscall_line,
               arg_min(body, line_no) FILTER (WHERE type = 'SYSCALL') AS syscall_body,
               string_agg(body, ' ') FILTER (WHERE type = 'EXECVE') AS execve_body,
               min(line_no) FILTER (WHERE type = 'EXECVE') AS execve_line,
               arg_min(body, line_no) FILTER (WHERE type = 'PROCTITLE') AS proctitle_body,
               arg_min(body, line_no) FILTER (WHERE type = 'CWD') AS cwd_body,
               arg_min(body, line_no) FILTER (WHERE type = 'SOCKADDR') AS sockaddr_body,
               min(line_no) FILTER (WHERE type = 'SOCKADDR') AS sockaddr_line,
               list(body) FILTER (WHERE type = 'PATH') AS path_bodies,
               arg_min(split_part(split_part(body, ' syscall=', 2), ' ', 1), line_no) FILTER (WHERE type = 'SYSCALL')
                   AS syscall_token
        FROM r
        GROUP BY node, stamp
        HAVING execve_body IS NOT NULL OR sockaddr_body IS NOT NULL
            OR syscall_token IN ({", ".join(sql_string(x) for x in EVENT_SYSCALLS.split("|"))})
    """)


# The kernel writes SYSCALL fields in one order (kernel/auditsc.c: audit_log_exit): one anchored
# pattern reads them all at about half the cost of a search per field. Records it does not fit
# (ausearch -i, older kernels, cut lines) fall back to a search per field.
RAW_SYSCALL_RE = (
    r"^arch=(\S+) syscall=(\S+) (?:success=(\S+) exit=(\S+) )?(?:a0=\S+ a1=\S+ a2=\S+ a3=\S+ )?"
    r"(?:items=\S+ )?(?:ppid=(\d+) )?pid=(\d+) auid=(\S+) uid=(\S+) gid=\S+ euid=(\S+) suid=\S+ fsuid=\S+ "
    r'egid=\S+ sgid=\S+ fsgid=\S+ tty=(\S+) ses=(\S+) comm=("[^"]*"?|\S+) exe=("[^"]*"?|\S+)'
    r'(?:.*? key=("[^"]*"?|\S+))?'
)
RAW_SYSCALL_FIELDS = ["arch", "syscall", "success", "exit", "ppid", "pid", "auid", "uid", "euid", "tty", "ses",
                      "comm", "exe", "key"]


def _fields(con, ev: str, f: str, tz: str, hint_host: str | None) -> None:
    """SYSCALL fields, time, host: raw and interpreted spellings side by side. Two statements, so
    that the pattern's result is computed once and not inlined into every column that reads it."""
    fields = ", ".join(sql_string(n) for n in RAW_SYSCALL_FIELDS)
    con.execute(f"""
        CREATE TEMP TABLE {f}_0 AS
        WITH hostmap AS (
            SELECT n.node,
                   coalesce((SELECT min(e.host) FROM entities e
                             WHERE e.kind IN ('host', 'hostname') AND e.host IS NOT NULL
                               AND (e.value = n.node OR e.value = split_part(n.node, '.', 1))),
                            nullif(n.node, ''), {sql_string(hint_host) if hint_host else 'NULL'}) AS host
            FROM (SELECT DISTINCT node FROM {ev}) n
        ), base AS (
            SELECT ev.*, h.host,
                   contains(ev.stamp, '/') AS interpreted,
                   split_part(coalesce(syscall_body, ''), chr(29), 1) AS sb,
                   nullif(split_part(coalesce(syscall_body, ''), chr(29), 2), '') AS enriched
            FROM {ev} ev JOIN hostmap h ON h.node IS NOT DISTINCT FROM ev.node
        )
        SELECT * EXCLUDE (syscall_body, cwd_body, proctitle_body, sockaddr_body),
               left(syscall_body, 240) AS syscall_excerpt, sockaddr_body IS NOT NULL AS has_sockaddr,
               CASE WHEN NOT interpreted THEN regexp_extract(sb, {sql_string(RAW_SYSCALL_RE)}, [{fields}]) END AS k,
               CASE WHEN NOT interpreted THEN {{'sec': split_part(stamp, '.', 1),
                                                'ms': split_part(split_part(stamp, '.', 2), ':', 1),
                                                'serial': split_part(stamp, ':', 2)}} END AS raw_stamp,
               CASE WHEN interpreted THEN
                   regexp_extract(stamp, '^(\\d+)/(\\d+)/(\\d+) (\\d+:\\d+:\\d+)\\.(\\d+):(\\d+)$',
                                  ['m', 'd', 'y', 'hms', 'ms', 'serial']) END AS local_stamp,
               -- CWD, PROCTITLE and SOCKADDR records hold one field each: the value is the rest of the body
               CASE WHEN starts_with(cwd_body, 'cwd=') THEN rtrim(substr(split_part(cwd_body, chr(29), 1), 5)) END AS cwd_raw,
               CASE WHEN starts_with(proctitle_body, 'proctitle=')
                    THEN rtrim(substr(split_part(proctitle_body, chr(29), 1), 11)) END AS proctitle_raw,
               CASE WHEN starts_with(sockaddr_body, 'saddr=')
                    THEN rtrim(substr(split_part(sockaddr_body, chr(29), 1), 7)) END AS saddr_raw
        FROM base
    """)
    con.execute(f"""
        CREATE TEMP TABLE {f}_1 AS
        SELECT * EXCLUDE (k),
            CASE WHEN k.pid <> '' THEN k.arch ELSE regexp_extract(sb, '(?:^| )arch=(\\S+)', 1) END AS arch,
            CASE WHEN k.pid <> '' THEN k.syscall ELSE regexp_extract(sb, '(?:^| )syscall=(\\S+)', 1) END AS syscall_nr,
            CASE WHEN k.pid <> '' THEN k.success ELSE regexp_extract(sb, '(?:^| )success=(\\S+)', 1) END AS success_raw,
            CASE WHEN k.pid <> '' THEN k.exit ELSE regexp_extract(sb, '(?:^| )exit=(-?\\d+|[A-Z0-9]+)', 1) END AS exit_raw,
            TRY_CAST(CASE WHEN k.pid <> '' THEN k.pid ELSE regexp_extract(sb, '(?:^| )pid=(\\d+)', 1) END AS BIGINT) AS pid,
            TRY_CAST(CASE WHEN k.pid <> '' THEN k.ppid ELSE regexp_extract(sb, '(?:^| )ppid=(\\d+)', 1) END AS BIGINT) AS ppid,
            CASE WHEN k.pid <> '' THEN k.uid ELSE regexp_extract(sb, '(?:^| )uid=(\\S+)', 1) END AS uid_raw,
            CASE WHEN k.pid <> '' THEN k.auid ELSE regexp_extract(sb, '(?:^| )auid=(\\S+)', 1) END AS auid_raw,
            CASE WHEN k.pid <> '' THEN k.euid ELSE regexp_extract(sb, '(?:^| )euid=(\\S+)', 1) END AS euid_raw,
            CASE WHEN k.pid <> '' THEN k.tty ELSE regexp_extract(sb, '(?:^| )tty=(\\S+)', 1) END AS tty,
            CASE WHEN k.pid <> '' THEN k.ses ELSE regexp_extract(sb, '(?:^| )ses=(\\S+)', 1) END AS ses,
            CASE WHEN k.pid <> '' THEN k.comm
                 WHEN interpreted THEN regexp_extract(sb, '(?:^| )comm=(.*?) exe=', 1)
                 ELSE regexp_extract(sb, '(?:^| )comm=("[^"]*"?|\\S+)', 1) END AS comm_raw,
            CASE WHEN k.pid <> '' THEN k.exe
                 WHEN interpreted THEN regexp_extract(sb, '(?:^| )exe=(.*?)(?: subj=| key=|$)', 1)
                 ELSE regexp_extract(sb, '(?:^| )exe=("[^"]*"?|\\S+)', 1) END AS exe_raw,
            CASE WHEN k.pid <> '' THEN k.key ELSE regexp_extract(sb, ' key=("[^"]*"?|\\S+)', 1) END AS key_raw,
            regexp_extract(coalesce(enriched, ''), '(?:^| )UID="?([^" ]+)', 1) AS enriched_uid
        FROM {f}_0
    """)
    con.execute(f"DROP TABLE {f}_0")
    con.execute(f"""
        CREATE TEMP TABLE {f} AS
        SELECT * EXCLUDE (sb, enriched),
            CASE WHEN interpreted THEN
                    timezone({sql_string(tz)}, try_strptime(
                        CASE WHEN length(local_stamp.y) = 2 THEN '20' || local_stamp.y ELSE local_stamp.y END
                        || '-' || local_stamp.m || '-' || local_stamp.d || ' ' || local_stamp.hms,
                        '%Y-%m-%d %H:%M:%S')) + to_milliseconds(TRY_CAST(local_stamp.ms AS INTEGER))
                 ELSE to_timestamp(TRY_CAST(raw_stamp.sec AS BIGINT)) + to_milliseconds(TRY_CAST(raw_stamp.ms AS INTEGER))
            END AS ts,
            CASE WHEN interpreted THEN local_stamp.serial ELSE raw_stamp.serial END AS serial,
            audit_syscall_name(arch, syscall_nr) AS syscall,
            CASE success_raw WHEN 'yes' THEN true WHEN 'no' THEN false END AS success,
            CASE WHEN regexp_full_match(exit_raw, '-?\\d+') THEN
                      CASE WHEN exit_raw::BIGINT >= 0 THEN exit_raw ELSE errno_name(exit_raw::BIGINT) END
                 ELSE nullif(exit_raw, '') END AS exit_code,
            CASE WHEN interpreted THEN nullif(comm_raw, '') ELSE audit_value(comm_raw) END AS comm,
            CASE WHEN interpreted THEN nullif(exe_raw, '') ELSE audit_value(exe_raw) END AS exe,
            CASE WHEN interpreted THEN nullif(nullif(cwd_raw, ''), '(null)') ELSE audit_value(cwd_raw) END AS cwd,
            CASE WHEN interpreted THEN nullif(key_raw, '(null)') ELSE audit_value(key_raw) END AS audit_key,
            CASE WHEN regexp_full_match(uid_raw, '\\d+') THEN uid_raw::BIGINT WHEN uid_raw = 'root' THEN 0 END AS uid,
            CASE WHEN regexp_full_match(auid_raw, '\\d+') AND auid_raw <> '4294967295' THEN auid_raw::BIGINT
                 WHEN auid_raw = 'root' THEN 0 END AS auid,
            CASE WHEN uid_raw <> '' AND NOT regexp_full_match(uid_raw, '\\d+') THEN uid_raw
                 ELSE nullif(enriched_uid, '') END AS user_name
        FROM {f}_1
    """)
    con.execute(f"DROP TABLE {f}_1")


def _arguments(con, f: str, args: str) -> None:
    """argv per exec event from its EXECVE records: chunks joined, hex decoded, gaps counted."""
    con.execute(f"""
        CREATE TEMP TABLE {args} AS
        WITH pieces AS (
            SELECT node, stamp, interpreted,
                   unnest(string_split(regexp_replace(' ' || execve_body, ' (a\\d+(?:\\[\\d+\\]|_len)?=)',
                                                      chr(30) || '\\1', 'g'), chr(30))) AS piece
            FROM {f} WHERE execve_body IS NOT NULL
        ), parsed AS (
            SELECT node, stamp, interpreted,
                   regexp_extract(piece, '^a(\\d+)(?:\\[(\\d+)\\]|(_len))?=(.*)$',
                                  ['idx', 'chunk', 'is_len', 'value']) AS p
            FROM pieces
        ), values AS (
            SELECT node, stamp, interpreted, p.idx::INTEGER AS idx, TRY_CAST(nullif(p.chunk, '') AS INTEGER) AS chunk,
                   p.is_len <> '' AS is_len,
                   CASE WHEN interpreted THEN p.value ELSE rtrim(p.value) END AS value
            FROM parsed WHERE p.idx <> ''
        ), decoded AS (
            SELECT node, stamp, idx, chunk, is_len, value,
                   CASE WHEN is_len THEN NULL
                        WHEN interpreted THEN CASE WHEN value = '(null)' THEN NULL ELSE value END
                        ELSE audit_value(value) END AS text,
                   NOT interpreted AND NOT is_len AND audit_value_truncated(value) AS truncated,
                   NOT interpreted AND NOT is_len AND value NOT IN ('(null)', '')
                       AND NOT starts_with(value, '"') AND NOT regexp_full_match(value, '[0-9A-Fa-f]+') AS not_hex
            FROM values
        ), per_arg AS (
            SELECT node, stamp, idx,
                   string_agg(text, '' ORDER BY chunk NULLS FIRST) FILTER (WHERE NOT is_len) AS arg,
                   max(TRY_CAST(value AS BIGINT)) FILTER (WHERE is_len) AS declared_len,
                   count(*) FILTER (WHERE chunk IS NOT NULL) AS n_chunks,
                   max(chunk) AS max_chunk,
                   bool_or(truncated) AS truncated,
                   bool_or(not_hex) AS not_hex
            FROM decoded GROUP BY node, stamp, idx
        )
        SELECT node, stamp,
               list(coalesce(arg, '') ORDER BY idx) AS argv,
               count(*) AS n_args,
               max(idx) AS max_idx,
               list(idx ORDER BY idx) FILTER (WHERE truncated OR not_hex) AS bad_hex_args,
               list(idx ORDER BY idx) FILTER (WHERE declared_len IS NOT NULL
                   AND (declared_len <> coalesce(strlen(arg), 0) OR n_chunks <> max_chunk + 1)) AS incomplete_args,
               sum(coalesce(strlen(arg), 0)) AS argv_bytes
        FROM per_arg GROUP BY node, stamp
    """)


def _sockaddrs(con, f: str, addr: str) -> None:
    """Decode each distinct SOCKADDR value once, in Python (few values, many repeats)."""
    values = [r[0] for r in con.execute(
        f"SELECT DISTINCT saddr_raw FROM {f} WHERE saddr_raw IS NOT NULL AND saddr_raw <> ''").fetchall()]
    decoded = [sockaddr.decode(v) for v in values]
    table = pa.table({
        "saddr_raw": pa.array(values, pa.string()),
        "family": pa.array([d.family for d in decoded], pa.string()),
        "address": pa.array([d.address for d in decoded], pa.string()),
        "port": pa.array([d.port for d in decoded], pa.int32()),
        "path": pa.array([d.path for d in decoded], pa.string()),
        "error": pa.array([d.error for d in decoded], pa.string()),
    })
    view = f"{addr}_in"
    con.register(view, table)
    try:
        con.execute(f"CREATE TEMP TABLE {addr} AS SELECT * FROM {view}")
    finally:
        con.unregister(view)


def _locator(alias: str = "") -> str:
    a = f"{alias}." if alias else ""
    return f"'line:' || coalesce({a}syscall_line, {a}execve_line, {a}sockaddr_line, {a}first_line)"


def _warn_events(ctx: ParseContext, f: str, args: str, addr: str) -> None:
    loc = _locator("e")
    ctx.warn_many(f"""
        SELECT {loc} AS locator, 'exec event without its SYSCALL record: pid and parent unknown' AS reason,
               left(e.execve_body, 240) AS excerpt
        FROM {f} e WHERE e.n_syscall = 0 AND e.execve_body IS NOT NULL
        UNION ALL
        SELECT {loc}, 'socket event without its SYSCALL record: pid unknown', e.saddr_raw
        FROM {f} e WHERE e.n_syscall = 0 AND e.execve_body IS NULL AND e.has_sockaddr
        UNION ALL
        SELECT {loc}, 'event id ' || e.stamp || ' has ' || e.n_syscall || ' SYSCALL records (logs of several hosts without node=?): the first is used',
               e.syscall_excerpt
        FROM {f} e WHERE e.n_syscall > 1
        UNION ALL
        SELECT {loc}, 'SYSCALL record without a pid (cut line?)', e.syscall_excerpt
        FROM {f} e WHERE e.n_syscall > 0 AND e.pid IS NULL
        UNION ALL
        SELECT {loc}, 'event time is not readable', e.stamp
        FROM {f} e WHERE e.ts IS NULL
        UNION ALL
        SELECT 'line:' || e.execve_line, 'EXECVE holds ' || a.n_args || ' of argc=' || regexp_extract(e.execve_body, 'argc=(\\d+)', 1)
               || ' arguments (records missing or cut)', left(e.execve_body, 240)
        FROM {f} e JOIN {args} a USING (node, stamp)
        WHERE TRY_CAST(regexp_extract(e.execve_body, 'argc=(\\d+)', 1) AS INTEGER) <> a.n_args
           OR a.max_idx + 1 <> a.n_args
        UNION ALL
        SELECT 'line:' || e.execve_line, 'argument ' || list_aggregate(a.bad_hex_args, 'string_agg', ',')
               || ' is cut or not valid hex (the readable part is kept)', left(e.execve_body, 240)
        FROM {f} e JOIN {args} a USING (node, stamp) WHERE len(a.bad_hex_args) > 0
        UNION ALL
        SELECT 'line:' || e.execve_line, 'long argument ' || list_aggregate(a.incomplete_args, 'string_agg', ',')
               || ' is missing chunks (aN_len differs from the chunks present)', left(e.execve_body, 240)
        FROM {f} e JOIN {args} a USING (node, stamp) WHERE len(a.incomplete_args) > 0
        UNION ALL
        SELECT 'line:' || coalesce(e.sockaddr_line, e.first_line), 'sockaddr not decoded: ' || d.error, e.saddr_raw
        FROM {f} e JOIN {addr} d USING (saddr_raw) WHERE d.error IS NOT NULL
        UNION ALL
        SELECT {loc}, 'exe, comm or cwd is cut or not valid hex', e.syscall_excerpt
        FROM {f} e WHERE NOT e.interpreted AND (audit_value_truncated(e.exe_raw) OR audit_value_truncated(e.comm_raw)
                                                OR audit_value_truncated(e.cwd_raw))
    """)


def _insert_processes(ctx: ParseContext, f: str, args: str, source_format: str) -> None:
    ctx.insert("processes", f"""
        WITH p AS (
            SELECT e.*, a.argv AS execve_argv, a.argv_bytes,
                   CASE WHEN e.proctitle_raw IS NULL OR e.proctitle_raw IN ('', '(null)') THEN NULL
                        WHEN e.interpreted THEN string_split(e.proctitle_raw, ' ')
                        ELSE list_filter(string_split(audit_value(e.proctitle_raw), chr(0)), lambda x: x <> '') END AS proctitle_argv
            FROM {f} e LEFT JOIN {args} a USING (node, stamp)
            WHERE e.execve_body IS NOT NULL OR e.syscall IN ('execve', 'execveat')
        ), q AS (
            SELECT *, coalesce(execve_argv, proctitle_argv) AS argv_final,
                   array_to_string(coalesce(execve_argv, proctitle_argv), ' ') AS cmdline_final
            FROM p
        )
        SELECT ts, NULL::TIMESTAMPTZ AS ts_end, 'audit(' || stamp || ')' AS ts_raw, interpreted AS ts_inferred,
               host, pid, ppid, NULL::BIGINT AS ns_pid, uid, auid, user_name, exe, comm,
               argv_final AS argv, cmdline_final AS cmdline,
               CASE WHEN execve_argv IS NOT NULL THEN 'execve' WHEN proctitle_argv IS NOT NULL THEN 'proctitle' END AS argv_source,
               cwd, coalesce(syscall, 'execve') AS syscall,
               CASE WHEN n_syscall = 0 AND execve_body IS NOT NULL THEN true ELSE success END AS success,
               exit_code,
               nullif(regexp_extract(cmdline_final, '--container-id[= ]+(\\S+)', 1), '') AS container_id,
               NULL AS pod, NULL AS k8s_namespace,
               nullif(regexp_extract(cmdline_final, '--sandbox-id[= ]+(\\S+)', 1), '') AS sandbox,
               coalesce(host, '') || ':' || stamp AS exec_id, NULL AS parent_exec_id,
               audit_key, stamp AS event_id, {sql_string(source_format)} AS source_format,
               {_locator()} AS locator,
               json_object('paths', list_transform(list_sort(list_transform(path_bodies, lambda b: {{
                               'item': TRY_CAST(regexp_extract(b, '(?:^| )item=(\\d+)', 1) AS INTEGER),
                               'name': regexp_extract(b, '(?:^| )name=("[^"]*"|\\S+)', 1)}})),
                           lambda x: audit_value(x.name)),
                           'euid', nullif(euid_raw, ''), 'tty', nullif(tty, ''), 'ses', nullif(ses, ''),
                           'arch', nullif(arch, ''), 'argv_bytes', argv_bytes, 'records', n_records,
                           'node', nullif(node, '')) AS extra
        FROM q
    """)


def _insert_sockets(ctx: ParseContext, f: str, addr: str, source_format: str) -> None:
    ctx.insert("process_sockets", f"""
        SELECT e.ts, 'audit(' || e.stamp || ')' AS ts_raw, e.interpreted AS ts_inferred, e.host, e.pid, e.ppid,
               e.exe, e.comm, coalesce(e.syscall, 'connect') AS syscall, d.family,
               CASE WHEN e.syscall IN ('bind') THEN NULL ELSE d.address END AS remote_ip,
               CASE WHEN e.syscall IN ('bind') THEN NULL ELSE d.port END AS remote_port,
               CASE WHEN e.syscall IN ('bind') THEN d.address END AS local_ip,
               CASE WHEN e.syscall IN ('bind') THEN d.port END AS local_port,
               d.path AS socket_path,
               CASE WHEN e.exit_code IN ('EINPROGRESS', 'EALREADY', 'EAGAIN') THEN NULL ELSE e.success END AS success,
               CASE WHEN e.success AND e.exit_code NOT LIKE 'E%' THEN 'ok' ELSE e.exit_code END AS result,
               NULL AS container_id, NULL AS pod, NULL AS exec_id, e.stamp AS event_id,
               {sql_string(source_format)} AS source_format,
               'line:' || coalesce(e.syscall_line, e.sockaddr_line, e.first_line) AS locator,
               json_object('saddr', e.saddr_raw, 'key', e.audit_key, 'arch', nullif(e.arch, ''),
                           'node', nullif(e.node, '')) AS extra
        FROM {f} e JOIN {addr} d USING (saddr_raw)
        WHERE e.has_sockaddr
          AND (e.syscall IS NULL OR e.syscall NOT IN ('execve', 'execveat'))
    """)
