-- title: Reverse SSH tunnel or reverse shell over SSH
-- description: SSH sessions from packet captures scored from independent signals, reported with the
--   signals that fired: role inversion (the SSH client is the TCP responder: a reverse shell) 0.5,
--   keystroke echoes led by the SSH server 0.25, a nested key exchange inside the session 0.25, bare
--   ACKs mostly from the server 0.15, RITA long-connection buckets 0.05 per bucket (1/4/8/12 h),
--   outbound to an address outside the cluster 0.1, and an agent step or process whose command line
--   opens an ssh -R/-D/-L forward to the same address 0.3. Forward sessions (git over SSH, admin
--   logins) score below the threshold: the client leads the echoes and acks, nothing is nested.
-- param min_score: 0.5  -- lowest score reported
-- param command_window_s: 3600  -- how far apart (seconds) a tunnel command and the session may be
-- attack: T1572, T1021.004
WITH s AS (
    SELECT s.*,
           NOT ip_is_internal(s.resp_h) AND ip_is_internal(s.orig_h) AS outbound_external
    FROM ssh_sessions s
), agent_cmd AS (
    SELECT s.uid, s.evidence_id,
           list(DISTINCT 'trajectory ' || coalesce(a.trajectory_id, '?') || ' step ' || coalesce(a.step::VARCHAR, '?')
                || coalesce(' (' || a.technique || ')', '')) AS refs,
           list(DISTINCT {'tbl': 'agent_steps', 'evidence_id': a.evidence_id, 'locator': a.locator}) AS evidence
    FROM s JOIN agent_actions a
         ON a.category = 'tunnel'
        AND (a.ip IN (s.resp_h, s.orig_h)
             OR (a.hostname IS NOT NULL AND EXISTS (
                    SELECT 1 FROM dns d WHERE lower(d.query) = a.hostname
                      AND (list_contains(d.answers, s.resp_h) OR list_contains(d.answers, s.orig_h)))))
        AND (a.ts IS NULL OR abs(epoch(a.ts) - epoch(s.ts)) <= $command_window_s)
    GROUP BY s.uid, s.evidence_id
), process_cmd AS (
    SELECT s.uid, s.evidence_id,
           list(DISTINCT coalesce(p.host, '?') || ' pid ' || p.pid || ': ' || left(p.cmdline, 200)) AS refs,
           list(DISTINCT {'tbl': 'processes', 'evidence_id': p.evidence_id, 'locator': p.locator}) AS evidence
    FROM s JOIN processes p
         ON regexp_matches(p.cmdline, '(^|[/\s])(auto)?ssh\s.*(^|\s)-[A-Za-z]*[RDL]')
        AND (contains(p.cmdline, s.resp_h) OR contains(p.cmdline, s.orig_h))
        AND abs(epoch(p.ts) - epoch(s.ts)) <= $command_window_s
    GROUP BY s.uid, s.evidence_id
), scored AS (
    SELECT s.*, a.refs AS agent_refs, a.evidence AS agent_evidence, p.refs AS process_refs,
           p.evidence AS process_evidence,
           list_concat(coalesce(s.tunnel_signals, []),
                       CASE WHEN s.outbound_external THEN ['outbound_external'] ELSE [] END,
                       CASE WHEN a.uid IS NOT NULL OR p.uid IS NOT NULL THEN ['command_line'] ELSE [] END) AS signals,
           least(1.0, round(coalesce(s.tunnel_score, 0)
                            + CASE WHEN s.outbound_external THEN 0.1 ELSE 0 END
                            + CASE WHEN a.uid IS NOT NULL OR p.uid IS NOT NULL THEN 0.3 ELSE 0 END, 3)) AS score
    FROM s
    LEFT JOIN agent_cmd a ON a.uid = s.uid AND a.evidence_id = s.evidence_id
    LEFT JOIN process_cmd p ON p.uid = s.uid AND p.evidence_id = s.evidence_id
)
SELECT 'tunnel' AS kind,
       CASE WHEN list_contains(signals, 'command_line') OR score >= 0.75 THEN 'high' ELSE 'medium' END AS severity,
       score AS confidence,
       x.ts AS ts_start,
       x.ts + to_microseconds(CAST(coalesce(x.duration, 0) * 1000000 AS BIGINT)) AS ts_end,
       x.host,
       x.orig_h AS src_ip,
       x.resp_h AS dst_ip,
       x.resp_p AS dst_port,
       CASE WHEN x.role_inverted THEN 'reverse shell over SSH (the SSH client is the TCP responder) '
            ELSE 'reverse SSH tunnel ' END
           || x.orig_h || ':' || x.orig_p || ' -> ' || x.resp_h || ':' || x.resp_p
           || coalesce(' on ' || x.host, '') || ', score ' || printf('%.2f', score)
           || ': ' || array_to_string(signals, ', ') AS summary,
       CASE WHEN x.resp_p <> 22 THEN ['T1572', 'T1021.004', 'T1571'] ELSE ['T1572', 'T1021.004'] END AS attack_ids,
       list_concat([{'tbl': 'ssh_sessions', 'evidence_id': x.evidence_id, 'locator': x.locator}],
                   coalesce([{'tbl': 'flows', 'evidence_id': f.evidence_id, 'locator': f.locator}], []),
                   coalesce(x.agent_evidence, []), coalesce(x.process_evidence, [])) AS evidence_refs,
       json_object('uid', x.uid, 'score', score, 'signals', signals,
                   'packet_signals', x.tunnel_signals, 'packet_score', x.tunnel_score,
                   'ssh_client', x.client, 'ssh_server', x.server, 'ssh_client_side', x.ssh_client_side,
                   'role_basis', x.role_basis, 'hassh', x.hassh, 'hassh_server', x.hassh_server,
                   'echo_pairs_server_led', x.echo_pairs_server_led,
                   'echo_pairs_client_led', x.echo_pairs_client_led,
                   'bare_acks_server', x.bare_acks_server, 'bare_acks_client', x.bare_acks_client,
                   'nested_kex_frame', x.nested_kex_frame, 'duration_s', x.duration,
                   'long_conn_hours', x.long_conn_hours, 'client_bytes', x.client_bytes,
                   'server_bytes', x.server_bytes, 'agent_commands', x.agent_refs,
                   'process_commands', x.process_refs) AS details
FROM scored x
LEFT JOIN flows f ON f.uid = x.uid AND f.evidence_id = x.evidence_id
WHERE score >= $min_score
