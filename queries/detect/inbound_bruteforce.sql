-- title: Inbound brute force against the cluster's login services
-- description: One outside address making many connection attempts to a cluster address on a
--   login port within a window (firewall records, flow logs, netfilter lines; allowed or
--   blocked). Attempts are counted per log source as distinct source ports (an IPS record that
--   repeats an access-log record is one attempt) and the largest count is reported. The target host is named, but nothing inside the cluster caused it: the finding is
--   inbound and, for correlation, unattributed to any agent or training job.
-- param window_s: 3600  -- window length in seconds
-- param min_attempts: 20  -- attempts per source and target port in a window
-- param login_ports: '22,23,2222,3389,5900,21'  -- ports of login services
-- param max_refs: 200  -- evidence references kept per finding
-- attack: T1110

WITH params AS (
    SELECT list_transform(string_split($login_ports, ','), lambda x: TRY_CAST(trim(x) AS INTEGER)) AS ports
),
attempts AS (
    SELECT n.*, time_bucket(to_seconds($window_s), n.ts) AS window_start
    FROM net_events n, params p
    WHERE n.direction = 'inbound' AND list_contains(p.ports, n.dst_port) AND n.ts IS NOT NULL
),
per_source AS (
    SELECT src_ip, dst_port, window_start, host, source_format,
           count(DISTINCT coalesce(src_port::VARCHAR, locator)) AS records,
           count(DISTINCT coalesce(src_port::VARCHAR, locator)) FILTER (WHERE action = 'deny') AS blocked,
           min(ts) AS ts_start, max(coalesce(ts_end, ts)) AS ts_end
    FROM attempts GROUP BY ALL
),
grouped AS (
    SELECT a.src_ip, a.dst_port, a.window_start,
           arg_max(a.host, 0) AS any_host,
           list(DISTINCT a.host) FILTER (WHERE a.host IS NOT NULL) AS hosts,
           list(DISTINCT a.dst_ip ORDER BY a.dst_ip) AS targets,
           min(a.ts) AS ts_start, max(coalesce(a.ts_end, a.ts)) AS ts_end,
           list({'tbl': 'net_events', 'evidence_id': a.evidence_id, 'locator': a.locator} ORDER BY a.ts, a.locator)
               AS refs
    FROM attempts a GROUP BY a.src_ip, a.dst_port, a.window_start
),
counts AS (
    SELECT src_ip, dst_port, window_start, max(records) AS attempts,
           string_agg(source_format || ': ' || records || ' attempt(s)'
                      || CASE WHEN blocked > 0 THEN ', ' || blocked || ' blocked' ELSE '' END, '; '
                      ORDER BY source_format) AS by_source
    FROM per_source GROUP BY ALL
)
SELECT 'inbound_bruteforce' AS kind,
       'Inbound brute force from ' || g.src_ip || ' on port ' || g.dst_port AS title,
       'medium' AS severity, 0.8 AS confidence,
       g.ts_start, g.ts_end,
       CASE WHEN len(g.hosts) = 1 THEN g.hosts[1] END AS host,
       g.src_ip, CASE WHEN len(g.targets) = 1 THEN g.targets[1] END AS dst_ip, g.dst_port,
       g.src_ip || ' (outside the cluster) made ' || c.attempts || ' connection attempts to port '
           || g.dst_port || ' of ' || coalesce(array_to_string(g.hosts, ', '), array_to_string(g.targets, ', '))
           || ' (' || array_to_string(g.targets, ', ') || '); ' || c.by_source
           || '. Inbound: no agent or job inside the cluster caused it.' AS summary,
       ['T1110'] AS attack_ids,
       g.refs[1:$max_refs]::STRUCT(tbl VARCHAR, evidence_id INTEGER, locator VARCHAR)[] AS evidence_refs,
       json_object('attempts', c.attempts, 'by_source', c.by_source, 'targets', g.targets, 'hosts', g.hosts,
                   'window_start', g.window_start, 'attributable', false) AS details
FROM grouped g JOIN counts c USING (src_ip, dst_port, window_start)
WHERE c.attempts >= $min_attempts
ORDER BY g.ts_start, g.src_ip
