-- title: Process -> network: each connect with its launch and what the network saw
-- description: Every connect/bind/accept a process made (auditd, laurel, Tetragon), with the launch
--   it belongs to (process_connections), whether the remote address is outside the cluster, the
--   flows (pcap, Zeek) and firewall or flow-log records to the same address and port within
--   skew_s of it, and the kinds of findings that name that address (tunnel, mining ...).
-- param skew_s: 10  -- seconds between host clock and network sensors tolerated
-- param external_only: false  -- only connects to addresses outside the cluster (and not loopback)
WITH c AS (
    SELECT *, row_number() OVER () AS conn_row,
           remote_ip IS NOT NULL AND NOT ip_is_internal(remote_ip) AND NOT ip_is_private(remote_ip) AS external
    FROM process_connections
    WHERE remote_ip IS NOT NULL
), f AS (
    SELECT c.conn_row, count(*) AS n_flows, min(fl.ts) AS first_flow_ts,
           list(DISTINCT fl.conn_state) FILTER (WHERE fl.conn_state IS NOT NULL) AS flow_states,
           sum(fl.orig_bytes) AS flow_orig_bytes, sum(fl.resp_bytes) AS flow_resp_bytes,
           arg_min(fl.evidence_id, fl.ts) AS flow_evidence_id, arg_min(fl.locator, fl.ts) AS flow_locator
    FROM c JOIN flows fl ON fl.resp_h = c.remote_ip AND fl.resp_p = c.remote_port
        AND fl.ts BETWEEN c.ts - to_seconds($skew_s) AND c.ts + to_seconds($skew_s)
    GROUP BY c.conn_row
), n AS (
    SELECT c.conn_row, count(*) AS n_net_events,
           list(DISTINCT ne.action) FILTER (WHERE ne.action IS NOT NULL) AS net_actions,
           arg_min(ne.evidence_id, ne.ts) AS net_evidence_id, arg_min(ne.locator, ne.ts) AS net_locator
    FROM c JOIN net_events ne ON ne.dst_ip = c.remote_ip AND ne.dst_port = c.remote_port
        AND ne.ts BETWEEN c.ts - to_seconds($skew_s) AND c.ts + to_seconds($skew_s)
    GROUP BY c.conn_row
), k AS (
    SELECT c.conn_row, list(DISTINCT fi.kind ORDER BY fi.kind) AS finding_kinds
    FROM c JOIN findings fi ON fi.dst_ip = c.remote_ip AND (fi.dst_port IS NULL OR fi.dst_port = c.remote_port)
    GROUP BY c.conn_row
)
SELECT c.ts, c.host, c.pid, c.exe, c.launch_argv AS argv, c.sandbox, c.syscall, c.family, c.remote_ip,
       c.remote_port, c.success, c.result, c.external, c.launch_basis,
       coalesce(f.n_flows, 0) AS n_flows, f.first_flow_ts, f.flow_states, f.flow_orig_bytes, f.flow_resp_bytes,
       coalesce(n.n_net_events, 0) AS n_net_events, n.net_actions, coalesce(k.finding_kinds, []) AS finding_kinds,
       c.proc_id, c.evidence_id, c.locator, c.launch_evidence_id, c.launch_locator,
       f.flow_evidence_id, f.flow_locator, n.net_evidence_id, n.net_locator
FROM c
LEFT JOIN f USING (conn_row) LEFT JOIN n USING (conn_row) LEFT JOIN k USING (conn_row)
WHERE NOT $external_only OR c.external
ORDER BY c.ts, c.host, c.pid
