-- title: Internal probing: one source fanning out over internal hosts or ports
-- description: Per source address (and the host that saw it) and tumbling window, the failed or
--   denied connection attempts to internal destinations (view connection_attempts: firewall
--   denies, Zeek conn_state S0/REJ, unanswered RSTO/RSTOS0/RSTR/SH/OTH, SYN-only flow records).
--   A scan is many distinct destinations on one port, or many ports on one destination (Zeek's
--   scan.zeek defaults: 25 hosts, 15 ports, 5 minutes). Successful connections never count, so a
--   monitoring host that reaches every port it tries is not a scan; a monitoring source that does
--   trip the thresholds is reported at medium severity.
-- param window_s: 300  -- window length in seconds (tumbling, as Zeek's SumStats epochs)
-- param min_hosts: 25  -- distinct internal destinations on one port that make a scan
-- param min_ports: 15  -- distinct ports on one internal destination that make a scan
-- param monitoring_roles: 'monitoring'  -- inventory roles (comma separated) of expected scanners
-- param max_refs: 500  -- evidence references kept per finding
-- attack: T1046

WITH attempts AS (
    SELECT a.*, time_bucket(to_seconds($window_s), a.ts) AS window_start
    FROM connection_attempts a
    WHERE a.outcome IN ('denied', 'failed') AND a.direction = 'internal'
      AND a.src_ip IS NOT NULL AND a.dst_ip IS NOT NULL AND a.dst_port IS NOT NULL AND a.ts IS NOT NULL
),
per_port AS (
    SELECT host, src_ip, window_start, dst_port, count(DISTINCT dst_ip) AS hosts
    FROM attempts GROUP BY ALL
),
per_host AS (
    SELECT host, src_ip, window_start, dst_ip, count(DISTINCT dst_port) AS ports
    FROM attempts GROUP BY ALL
),
tripped AS (
    SELECT host, src_ip, window_start,
           list(dst_port ORDER BY dst_port) FILTER (WHERE hosts >= $min_hosts) AS wide_ports,
           max(hosts) AS max_hosts
    FROM per_port GROUP BY ALL
),
deep AS (
    SELECT host, src_ip, window_start,
           list(dst_ip ORDER BY dst_ip) FILTER (WHERE ports >= $min_ports) AS deep_hosts,
           max(ports) AS max_ports
    FROM per_host GROUP BY ALL
),
scans AS (
    SELECT t.host, t.src_ip, t.window_start, t.wide_ports, d.deep_hosts, t.max_hosts, d.max_ports
    FROM tripped t JOIN deep d USING (host, src_ip, window_start)
    WHERE len(coalesce(t.wide_ports, [])) > 0 OR len(coalesce(d.deep_hosts, [])) > 0
),
monitors AS (
    SELECT a.ip FROM host_addresses a JOIN host_roles r ON r.host = a.host
    WHERE list_contains(list_transform(string_split($monitoring_roles, ','), lambda x: trim(x)), r.role)
),
summary AS (
    SELECT s.host, s.src_ip, s.window_start, any_value(s.wide_ports) AS wide_ports,
           any_value(s.deep_hosts) AS deep_hosts,
           min(a.ts) AS ts_start, max(a.ts) AS ts_end,
           count(*) AS attempts,
           count(*) FILTER (WHERE a.outcome = 'denied') AS denied,
           count(*) FILTER (WHERE a.outcome = 'failed') AS failed,
           count(DISTINCT a.dst_ip) AS destinations,
           list(DISTINCT a.dst_port ORDER BY a.dst_port) AS ports,
           min(a.dst_ip) AS first_dst,
           list(DISTINCT a.source_format ORDER BY a.source_format) AS sources,
           list(DISTINCT a.rule ORDER BY a.rule) FILTER (WHERE a.rule IS NOT NULL) AS rules,
           list({'tbl': a.tbl, 'evidence_id': a.evidence_id, 'locator': a.locator} ORDER BY a.ts, a.locator)
               AS refs,
           bool_or(s.src_ip IN (SELECT ip FROM monitors)) AS from_monitor
    FROM scans s JOIN attempts a USING (host, src_ip, window_start)
    GROUP BY s.host, s.src_ip, s.window_start
)
SELECT 'probe' AS kind,
       'Internal probing from ' || src_ip AS title,
       CASE WHEN from_monitor THEN 'medium' ELSE 'high' END AS severity,
       CASE WHEN denied > 0 AND failed = 0 THEN 0.9 ELSE 0.8 END AS confidence,
       ts_start, ts_end, host, src_ip,
       CASE WHEN destinations = 1 THEN first_dst END AS dst_ip,
       CASE WHEN len(ports) = 1 THEN ports[1] END AS dst_port,
       src_ip || ' made ' || attempts || ' failed or denied connection attempts to ' || destinations
           || ' internal hosts on ports ' || array_to_string(ports, ', ')
           || CASE WHEN len(coalesce(wide_ports, [])) > 0
                   THEN ' (' || array_to_string(wide_ports, ', ') || ': at least ' || $min_hosts || ' hosts each)'
                   ELSE '' END
           || CASE WHEN len(coalesce(deep_hosts, [])) > 0
                   THEN ' (' || len(deep_hosts) || ' hosts probed on at least ' || $min_ports || ' ports)'
                   ELSE '' END
           || ' within ' || $window_s || ' s'
           || ' [' || denied || ' denied, ' || failed || ' failed; seen in ' || array_to_string(sources, ', ') || ']'
           || CASE WHEN from_monitor THEN ' (source is a monitoring host)' ELSE '' END AS summary,
       ['T1046'] AS attack_ids,
       refs[1:$max_refs]::STRUCT(tbl VARCHAR, evidence_id INTEGER, locator VARCHAR)[] AS evidence_refs,
       json_object('attempts', attempts, 'denied', denied, 'failed', failed, 'destinations', destinations,
                   'ports', ports, 'ports_over_host_threshold', wide_ports,
                   'hosts_over_port_threshold', deep_hosts, 'window_start', window_start,
                   'window_s', $window_s, 'sources', sources, 'rules', rules,
                   'from_monitoring_host', from_monitor, 'references_kept', least(len(refs), $max_refs)) AS details
FROM summary
ORDER BY ts_start, src_ip
