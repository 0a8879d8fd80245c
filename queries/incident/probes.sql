-- title: Incident answer: internal hosts and ports probed, and which answered
-- description: Per scanning step of an incident: the ranges and ports its command names, every
--   target attempted in evidence (kernel-log lines, capture SYNs, the processes' connects) with its
--   outcome: open (a connect succeeded or the target answered in the capture), refused (RST,
--   ECONNREFUSED), dropped (a firewall or egress rule denied it) or no answer; the answered
--   targets; the attempts each source counted; and the targets the step's own output claimed open.
-- answer: probes
-- shape: many
WITH psteps AS (
    SELECT DISTINCT l.incident_id, s.*
    FROM links l JOIN link_steps s ON s.evidence_id = l.cause_evidence_id AND s.locator = l.cause_locator
    WHERE l.incident_id IS NOT NULL AND l.effect_kind = 'probe'
), named AS (
    SELECT evidence_id, locator,
           list(DISTINCT value ORDER BY value) FILTER (WHERE target_kind = 'address') AS ranges,
           list(DISTINCT port ORDER BY port) FILTER (WHERE target_kind = 'port') AS ports
    FROM link_step_targets WHERE category = 'scan' GROUP BY ALL
), rows AS (
    SELECT DISTINCT l.cause_evidence_id, l.cause_locator, lr.tbl, lr.evidence_id, lr.locator, lr.ts_corrected
    FROM links l JOIN link_rows lr USING (link_id)
    JOIN psteps p ON p.evidence_id = l.cause_evidence_id AND p.locator = l.cause_locator
    WHERE l.effect_kind = 'probe'
), attempts AS (
    SELECT r.cause_evidence_id, r.cause_locator, n.dst_ip AS ip, n.dst_port AS port, 'net_events' AS tbl,
           n.source_format AS source, CASE WHEN n.action = 'deny' THEN 'dropped' END AS outcome,
           n.rule AS why
    FROM rows r JOIN net_events n ON r.tbl = 'net_events' AND n.evidence_id = r.evidence_id AND n.locator = r.locator
    UNION ALL
    SELECT r.cause_evidence_id, r.cause_locator, f.resp_h, f.resp_p, 'flows', f.source_format,
           CASE WHEN f.conn_state = 'REJ' THEN 'refused'
                WHEN f.conn_state NOT IN ('S0', 'OTH') AND coalesce(f.resp_pkts, 0) > 0 THEN 'open' END,
           'conn_state ' || f.conn_state
    FROM rows r JOIN flows f ON r.tbl = 'flows' AND f.evidence_id = r.evidence_id AND f.locator = r.locator
    UNION ALL
    SELECT r.cause_evidence_id, r.cause_locator, s.remote_ip, s.remote_port, 'process_sockets', s.source_format,
           CASE WHEN s.success THEN 'open' WHEN s.result = 'ECONNREFUSED' THEN 'refused' END, s.result
    FROM rows r JOIN process_sockets s ON r.tbl = 'process_sockets' AND s.evidence_id = r.evidence_id AND s.locator = r.locator
), per_target AS (
    SELECT cause_evidence_id, cause_locator, ip, port,
           CASE WHEN bool_or(outcome = 'open') THEN 'open' WHEN bool_or(outcome = 'refused') THEN 'refused'
                WHEN bool_or(outcome = 'dropped') THEN 'dropped' ELSE 'no answer' END AS outcome,
           list(DISTINCT source ORDER BY source) AS sources
    FROM attempts GROUP BY ALL
), per_source AS (
    SELECT cause_evidence_id, cause_locator,
           list({'source': source, 'table': tbl, 'records': n} ORDER BY source, tbl) AS by_source
    FROM (SELECT cause_evidence_id, cause_locator, source, tbl, count(*) AS n FROM attempts GROUP BY ALL)
    GROUP BY ALL
), summary AS (
    SELECT cause_evidence_id, cause_locator, count(*) AS targets, count(DISTINCT ip) AS hosts,
           list(ip || ':' || port ORDER BY ipv4_to_int(ip), port) FILTER (WHERE outcome = 'open') AS answered,
           list(ip || ':' || port ORDER BY ipv4_to_int(ip), port) FILTER (WHERE outcome = 'refused') AS refused,
           count(*) FILTER (WHERE outcome = 'open') AS n_open, count(*) FILTER (WHERE outcome = 'refused') AS n_refused,
           count(*) FILTER (WHERE outcome = 'dropped') AS n_dropped, count(*) FILTER (WHERE outcome = 'no answer') AS n_silent,
           list(DISTINCT port ORDER BY port) AS ports_attempted
    FROM per_target GROUP BY ALL
), attempt_span AS (
    SELECT cause_evidence_id, cause_locator, min(ts_corrected) AS first_c, max(ts_corrected) AS last_c
    FROM rows GROUP BY ALL
), claimed AS (
    SELECT s.evidence_id, s.locator,
           list_sort(list_distinct(regexp_extract_all(st.output_excerpt, '(\d{1,3}(?:\.\d{1,3}){3}:\d+) open', 1))) AS claimed
    FROM psteps s JOIN agent_steps st ON st.evidence_id = s.evidence_id AND st.locator = s.locator
)
SELECT p.incident_id,
       {'run_id': p.run_id, 'trajectory_id': p.trajectory_id, 'step': p.step, 'step_ts': p.ts, 'command': p.command,
        'exit_code': p.exit_code, 'host': p.host, 'sandbox': p.sandbox, 'source_ip': p.sandbox_ip,
        'ranges_named': n.ranges, 'ports_named': n.ports,
        'first_attempt': w.first_c, 'last_attempt': w.last_c,
        'targets_attempted': sm.targets, 'hosts_attempted': sm.hosts, 'ports_attempted': sm.ports_attempted,
        'answered': coalesce(sm.answered, []), 'refused': coalesce(sm.refused, []),
        'outcomes': {'open': sm.n_open, 'refused': sm.n_refused, 'dropped': sm.n_dropped, 'no_answer': sm.n_silent},
        'attempts_by_source': ps.by_source, 'claimed_open_by_output': c.claimed,
        'evidence': {'tbl': 'agent_steps', 'evidence_id': p.evidence_id, 'locator': p.locator}} AS answer
FROM psteps p
LEFT JOIN named n ON n.evidence_id = p.evidence_id AND n.locator = p.locator
LEFT JOIN summary sm ON sm.cause_evidence_id = p.evidence_id AND sm.cause_locator = p.locator
LEFT JOIN per_source ps ON ps.cause_evidence_id = p.evidence_id AND ps.cause_locator = p.locator
LEFT JOIN attempt_span w ON w.cause_evidence_id = p.evidence_id AND w.cause_locator = p.locator
LEFT JOIN claimed c ON c.evidence_id = p.evidence_id AND c.locator = p.locator
ORDER BY p.incident_id, p.ts, p.trajectory_id, p.step
