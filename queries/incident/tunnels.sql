-- title: Incident answer: every tunnel
-- description: Per tunnel step of an incident (ssh forwards, tunnelling tools, reverse shells): the
--   endpoint (address, port, user) and the forwards the command asks for, the client side seen
--   (source addresses and ports), the status (established: something answered; blocked: only
--   firewall drops; attempted: no answer in evidence, with the step's exit code), the start (first
--   packet of the capture, else the firewall's record, else the host's corrected stamp), the end
--   (the latest record of the connection in any source: capture, firewall records, the process's
--   exit) and whether it was still open when that evidence ends, the duration, the bytes each
--   source counted, the SSH banners and the tunnel findings.
-- answer: tunnels
-- shape: many
WITH tsteps AS (
    SELECT DISTINCT l.incident_id, s.*
    FROM links l JOIN link_steps s ON s.evidence_id = l.cause_evidence_id AND s.locator = l.cause_locator
    WHERE l.incident_id IS NOT NULL AND list_contains(s.categories, 'tunnel')
), endpoint AS (
    SELECT evidence_id, locator, arg_min(ip, ip) AS ip, arg_min(port, ip) AS port
    FROM link_step_targets WHERE target_kind = 'address' AND category = 'tunnel' GROUP BY ALL
), forwards AS (
    SELECT evidence_id, locator, list(DISTINCT indicator_value ORDER BY indicator_value) AS forwards,
           list(DISTINCT technique ORDER BY technique) AS techniques
    FROM agent_actions WHERE category = 'tunnel' AND indicator_kind IN ('forward', 'binary', 'flag')
    GROUP BY ALL
), conn_links AS (
    SELECT l.* FROM links l JOIN tsteps t ON t.evidence_id = l.cause_evidence_id AND t.locator = l.cause_locator
    WHERE l.effect_kind IN ('connection', 'blocked_connection', 'firewall_alert', 'ssh_session', 'connect', 'process_exec',
                            'finding')
), rows AS (
    SELECT DISTINCT l.cause_evidence_id, l.cause_locator, lr.tbl, lr.evidence_id, lr.locator, lr.ts_corrected
    FROM conn_links l JOIN link_rows lr USING (link_id)
), cap AS (
    SELECT r.cause_evidence_id, r.cause_locator, min(f.ts_corrected) AS start_c,
           max(f.ts_corrected + to_microseconds(CAST(round(coalesce(f.duration, 0) * 1000000) AS BIGINT))) AS last_c,
           bool_or(f.conn_state NOT IN ('SF', 'REJ', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR')) AS open_at_end,
           bool_or(f.conn_state NOT IN ('S0', 'REJ') AND coalesce(f.resp_pkts, 0) > 0) AS answered,
           sum(f.orig_ip_bytes) AS ip_bytes_out, sum(f.resp_ip_bytes) AS ip_bytes_in,
           sum(f.orig_bytes) AS payload_out, sum(f.resp_bytes) AS payload_in,
           sum(f.orig_pkts) AS packets_out, sum(f.resp_pkts) AS packets_in,
           list(DISTINCT f.orig_h || ':' || f.orig_p) AS clients, list(DISTINCT f.conn_state) AS states,
           max(ev.path) AS source
    FROM rows r JOIN flows_corrected f ON r.tbl = 'flows' AND f.evidence_id = r.evidence_id AND f.locator = r.locator
    LEFT JOIN evidence ev ON ev.evidence_id = f.evidence_id
    GROUP BY ALL
), fw AS (
    SELECT r.cause_evidence_id, r.cause_locator, count(*) AS records, min(n.ts_corrected) AS start_c,
           max(coalesce(n.ts_end_corrected, n.ts_corrected)) AS last_c, sum(n.bytes_out) AS bytes_out,
           sum(n.bytes_in) AS bytes_in, list(DISTINCT n.action ORDER BY n.action) AS actions,
           bool_or(coalesce(n.bytes_in, 0) > 0 OR coalesce(n.packets_in, 0) > 0) AS answered,
           bool_and(n.action = 'deny') AS all_denied, list(DISTINCT n.rule ORDER BY n.rule) AS rules,
           list(DISTINCT n.source_format ORDER BY n.source_format) AS formats, bool_or(n.clock_domain = 'reference') AS reference
    FROM rows r JOIN net_events_corrected n ON r.tbl = 'net_events' AND n.evidence_id = r.evidence_id AND n.locator = r.locator
    GROUP BY ALL
), fw_split AS (
    SELECT r.cause_evidence_id, r.cause_locator, n.clock_domain, count(*) AS records, min(n.ts_corrected) AS start_c,
           max(coalesce(n.ts_end_corrected, n.ts_corrected)) AS last_c, sum(n.bytes_out) AS bytes_out,
           sum(n.bytes_in) AS bytes_in, list(DISTINCT n.action ORDER BY n.action) AS actions,
           list(DISTINCT n.source_format ORDER BY n.source_format) AS formats
    FROM rows r JOIN net_events_corrected n ON r.tbl = 'net_events' AND n.evidence_id = r.evidence_id AND n.locator = r.locator
    GROUP BY ALL
), procs AS (
    SELECT r.cause_evidence_id, r.cause_locator, max(p.ts_end_corrected) AS exit_c, list(DISTINCT p.pid) AS pids
    FROM rows r JOIN processes_corrected p ON r.tbl = 'processes' AND p.evidence_id = r.evidence_id AND p.locator = r.locator
    GROUP BY ALL
), sock AS (
    SELECT r.cause_evidence_id, r.cause_locator, bool_or(s.success) AS answered
    FROM rows r JOIN process_sockets s ON r.tbl = 'process_sockets' AND s.evidence_id = r.evidence_id AND s.locator = r.locator
    GROUP BY ALL
), ssh AS (
    SELECT r.cause_evidence_id, r.cause_locator, any_value(x.client) AS client_banner, any_value(x.server) AS server_banner,
           any_value(x.hassh) AS hassh, any_value(x.hassh_server) AS hassh_server
    FROM rows r JOIN ssh_sessions x ON r.tbl = 'ssh_sessions' AND x.evidence_id = r.evidence_id AND x.locator = r.locator
    GROUP BY ALL
), found AS (
    SELECT l.cause_evidence_id, l.cause_locator,
           list(DISTINCT {'finding_id': f.finding_id, 'detector': f.detector, 'summary': left(f.summary, 200)}) AS findings
    FROM conn_links l JOIN findings f ON f.finding_id = l.finding_id
    WHERE l.effect_kind = 'finding' AND f.kind = 'tunnel'
    GROUP BY ALL
), ends AS (
    SELECT t.evidence_id, t.locator,
           coalesce(cap.start_c, fr.start_c, fh.start_c) AS start_c,
           CASE WHEN cap.start_c IS NOT NULL THEN 'capture' WHEN fr.start_c IS NOT NULL THEN 'firewall'
                WHEN fh.start_c IS NOT NULL THEN 'host log (corrected)' END AS start_source,
           greatest(cap.last_c, fr.last_c, fh.last_c, p.exit_c) AS end_c,
           CASE greatest(cap.last_c, fr.last_c, fh.last_c, p.exit_c)
               WHEN p.exit_c THEN 'process exit' WHEN fr.last_c THEN 'firewall records' WHEN cap.last_c THEN 'capture'
               WHEN fh.last_c THEN 'host log' END AS end_source
    FROM tsteps t
    LEFT JOIN cap ON cap.cause_evidence_id = t.evidence_id AND cap.cause_locator = t.locator
    LEFT JOIN fw_split fr ON fr.cause_evidence_id = t.evidence_id AND fr.cause_locator = t.locator AND fr.clock_domain = 'reference'
    LEFT JOIN fw_split fh ON fh.cause_evidence_id = t.evidence_id AND fh.cause_locator = t.locator AND fh.clock_domain = 'host'
    LEFT JOIN procs p ON p.cause_evidence_id = t.evidence_id AND p.cause_locator = t.locator
)
SELECT t.incident_id,
       {'run_id': t.run_id, 'trajectory_id': t.trajectory_id, 'step': t.step, 'step_ts': t.ts, 'command': t.command,
        'exit_code': t.exit_code, 'host': t.host, 'sandbox': t.sandbox,
        'endpoint': {'ip': e.ip, 'port': e.port,
                     'user': nullif(regexp_extract(t.command, '([A-Za-z0-9._-]+)@' || regexp_escape(coalesce(e.ip, '')), 1), '')},
        'forwards': list_filter(fo.forwards, lambda x: regexp_matches(x, '^-[RLDw] ')),
        'techniques': fo.techniques,
        'status': CASE WHEN coalesce(cap.answered, false) OR coalesce(fw.answered, false) OR coalesce(sk.answered, false)
                           THEN 'established'
                       WHEN coalesce(fw.all_denied, false) OR list_contains(coalesce(fw.actions, []), 'deny')
                           THEN 'blocked by the firewall'
                       WHEN cap.clients IS NOT NULL OR fw.records IS NOT NULL
                           THEN 'attempted, no answer in evidence' || coalesce(' (exit code ' || t.exit_code || ')', '')
                       ELSE 'no connection in evidence' END,
        'client': cap.clients, 'start': en.start_c, 'start_source': en.start_source,
        'end': en.end_c, 'end_source': en.end_source,
        'duration_s': round(epoch(en.end_c) - epoch(en.start_c), 3),
        'open_at_end_of_capture': cap.open_at_end AND (en.end_source = 'capture'),
        'capture': CASE WHEN cap.start_c IS NOT NULL THEN
            {'source': cap.source, 'start': cap.start_c, 'last_packet': cap.last_c, 'states': cap.states,
             'still_open_when_capture_ends': cap.open_at_end, 'ip_bytes_out': cap.ip_bytes_out,
             'ip_bytes_in': cap.ip_bytes_in, 'payload_bytes_out': cap.payload_out, 'payload_bytes_in': cap.payload_in,
             'packets_out': cap.packets_out, 'packets_in': cap.packets_in} END,
        'firewall': CASE WHEN fr.records IS NOT NULL THEN
            {'records': fr.records, 'actions': fr.actions, 'formats': fr.formats, 'first': fr.start_c,
             'last': fr.last_c, 'bytes_out': fr.bytes_out, 'bytes_in': fr.bytes_in} END,
        'host_log': CASE WHEN fh.records IS NOT NULL THEN
            {'records': fh.records, 'actions': fh.actions, 'formats': fh.formats, 'first': fh.start_c,
             'last': fh.last_c} END,
        'ssh': CASE WHEN ssh.client_banner IS NOT NULL OR ssh.server_banner IS NOT NULL THEN
            {'client_banner': ssh.client_banner, 'server_banner': ssh.server_banner, 'hassh': ssh.hassh,
             'hassh_server': ssh.hassh_server} END,
        'process_pids': p.pids,
        'findings': found.findings,
        'evidence': {'tbl': 'agent_steps', 'evidence_id': t.evidence_id, 'locator': t.locator}} AS answer
FROM tsteps t
LEFT JOIN endpoint e ON e.evidence_id = t.evidence_id AND e.locator = t.locator
LEFT JOIN forwards fo ON fo.evidence_id = t.evidence_id AND fo.locator = t.locator
LEFT JOIN cap ON cap.cause_evidence_id = t.evidence_id AND cap.cause_locator = t.locator
LEFT JOIN fw ON fw.cause_evidence_id = t.evidence_id AND fw.cause_locator = t.locator
LEFT JOIN fw_split fr ON fr.cause_evidence_id = t.evidence_id AND fr.cause_locator = t.locator AND fr.clock_domain = 'reference'
LEFT JOIN fw_split fh ON fh.cause_evidence_id = t.evidence_id AND fh.cause_locator = t.locator AND fh.clock_domain = 'host'
LEFT JOIN procs p ON p.cause_evidence_id = t.evidence_id AND p.cause_locator = t.locator
LEFT JOIN sock sk ON sk.cause_evidence_id = t.evidence_id AND sk.cause_locator = t.locator
LEFT JOIN ssh ON ssh.cause_evidence_id = t.evidence_id AND ssh.cause_locator = t.locator
LEFT JOIN found ON found.cause_evidence_id = t.evidence_id AND found.cause_locator = t.locator
LEFT JOIN ends en ON en.evidence_id = t.evidence_id AND en.locator = t.locator
ORDER BY t.incident_id, t.ts, t.trajectory_id, t.step
