-- title: Agent step -> connects made by the processes it launched
-- description: Sockets (connect, bind, accept) of the launches linked to the step (the launch each
--   socket belongs to, process_connections; a forked daemon such as ssh -f's counts with the ssh
--   it forked from). Linked when the remote address is one the step names (any time the process
--   lives: a miner reconnecting to its pool) or when the socket opens while the step runs (within
--   link_window_s after it, clock-corrected). Sockets opened later to addresses the step never
--   named are someone else's doing (a session through a tunnel) and are left out. One link per
--   step, evidence file and kind (probe for a scan's targets, connect otherwise).
-- param link_window_s: 120  -- how long after a step ends its effects may start, in seconds
-- param clock_tolerance_s: 2  -- how early an effect may look, in seconds
WITH c AS (
    SELECT pc.*, clock_correct(pc.ts, o.offset_s) AS ts_c, o.offset_s
    FROM process_connections pc
    LEFT JOIN host_clock_evidence h ON h.evidence_id = pc.evidence_id
    LEFT JOIN host_clock_offsets o ON h.evidence_id IS NOT NULL AND o.host = pc.host
    WHERE pc.proc_id IS NOT NULL AND pc.ts IS NOT NULL
), linked AS (
    SELECT c.*, l.step_evidence_id AS s_eid, l.step_locator AS s_loc, s.ts AS s_ts, s.ts_end AS s_end,
           s.sandbox AS s_sandbox, l.basis AS step_basis
    FROM c JOIN link_step_processes l ON l.proc_id = c.proc_id
    JOIN link_steps s ON s.evidence_id = l.step_evidence_id AND s.locator = l.step_locator
    WHERE c.ts_c >= s.ts - to_seconds($clock_tolerance_s)
), targeted AS (
    SELECT k.*, t.category AS t_category, t.value AS t_value,
           row_number() OVER (PARTITION BY k.evidence_id, k.locator, k.s_eid, k.s_loc ORDER BY t.category = 'scan' DESC, t.value) AS n_t
    FROM linked k LEFT JOIN link_step_targets t ON t.evidence_id = k.s_eid AND t.locator = k.s_loc
        AND t.target_kind = 'address' AND ipv4_to_int(k.remote_ip) BETWEEN t.ip_lo AND t.ip_hi
        AND (t.port IS NULL OR t.port = k.remote_port)
), kept AS (
    SELECT *, CASE WHEN t_category = 'scan' THEN 'probe' ELSE 'connect' END AS effect_kind
    FROM targeted
    WHERE n_t = 1 AND (t_value IS NOT NULL OR ts_c <= s_end + to_seconds($link_window_s))
), grouped AS (
    SELECT s_eid, s_loc, evidence_id, effect_kind, any_value(s_ts) AS s_ts, any_value(s_sandbox) AS s_sandbox,
           count(*) AS n, min(ts_c) AS first_c, max(ts_c) AS last_c, arg_min(ts, ts_c) AS first_ts,
           arg_min(locator, ts_c) AS first_locator, arg_min(host, ts_c) AS first_host,
           arg_min(offset_s, ts_c) AS first_offset,
           arg_min(format('pid {} {} {}:{} ({})', pid, coalesce(syscall, 'connect'), remote_ip, remote_port,
                          coalesce(result, '?')), ts_c) AS first_what,
           count(*) FILTER (WHERE success) AS n_ok, count(*) FILTER (WHERE NOT success) AS n_failed,
           count(DISTINCT remote_ip) AS n_dst, count(DISTINCT remote_port) AS n_ports,
           bool_or(t_value IS NOT NULL) AS has_indicator,
           list(DISTINCT t_value ORDER BY t_value) FILTER (WHERE t_value IS NOT NULL) AS named,
           list(DISTINCT step_basis ORDER BY step_basis) AS launch_bases,
           list({'tbl': 'process_sockets', 'evidence_id': evidence_id, 'locator': locator, 'ts': ts_c}
                ORDER BY ts_c, locator) AS member_refs
    FROM kept GROUP BY s_eid, s_loc, evidence_id, effect_kind
)
SELECT s_eid AS cause_evidence_id, s_loc AS cause_locator, effect_kind, 'process_sockets' AS effect_tbl,
       evidence_id AS effect_evidence_id, first_locator AS effect_locator, NULL AS finding_id, first_ts AS effect_ts,
       first_c AS effect_ts_corrected, last_c AS effect_ts_end, first_host AS effect_host, n AS effect_count,
       CASE WHEN n = 1 THEN first_what
            ELSE format('{} sockets to {} addresses x {} ports ({} succeeded, {} failed); first {}', n, n_dst, n_ports,
                        n_ok, n_failed, first_what) END AS effect_summary,
       round(epoch(first_c) - epoch(s_ts), 3) AS delta_s, $clock_tolerance_s::DOUBLE AS tolerance_s,
       CASE WHEN has_indicator OR list_has_any(launch_bases, ['shell -c', 'argv', 'argv (shell parser)'])
            THEN 'indicator' ELSE 'place' END AS basis,
       concat_ws('; ',
           CASE WHEN has_indicator THEN format('remote address inside {} named by the command', array_to_string(named, ', ')) END,
           CASE WHEN list_has_any(launch_bases, ['shell -c', 'argv', 'argv (shell parser)'])
                THEN format('the connecting launches'' argv is the command''s ({})', array_to_string(launch_bases, ', ')) END)
           AS basis_indicator,
       format('made by processes the step launched, in the process tree of sandbox {}', coalesce(s_sandbox, '?')) AS basis_place,
       format('first socket {:.3f} s after the step{}', epoch(first_c) - epoch(s_ts),
              CASE WHEN coalesce(first_offset, 0) <> 0
                   THEN format(' (stamp corrected by {:+.3f} s for the clock of {})', -first_offset, first_host)
                   ELSE '' END) AS basis_time,
       false AS weak, CASE WHEN has_indicator THEN 0.95 ELSE 0.8 END AS confidence,
       to_json({'succeeded': n_ok, 'failed': n_failed, 'distinct_destinations': n_dst, 'distinct_ports': n_ports,
                'named': named}) AS details,
       member_refs
FROM grouped
