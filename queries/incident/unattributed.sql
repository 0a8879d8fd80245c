-- title: What is suspicious and that no agent step in evidence explains
-- description: Findings (other than those describing agent steps themselves) that no link ties to
--   an agent step and no benign step accounts for (explained_benign), and firewall records that
--   denied or alerted on traffic no link and no finding covers, grouped by source, direction and
--   action. Each gets the reason no agent step can explain it: traffic from outside the cluster,
--   a sandbox's own start-up before its trajectory's first step, traffic from a sandbox that no
--   step of its trajectory names, a host that runs no sandbox, a process on the host outside any
--   sandbox, traffic of the host itself, or a process tree in a sandbox that no step accounts for
--   (with the tunnel it came in through, and that tunnel's incident). Times are clock-corrected.
-- param min_severity: low  -- the least severe finding reported (info, low, medium, high, critical)
WITH sev AS (
    SELECT * FROM (VALUES ('info', 0), ('low', 1), ('medium', 2), ('high', 3), ('critical', 4)) AS t(severity, rank)
), f AS (
    SELECT f.* FROM findings_corrected f
    JOIN sev s ON s.severity = lower(coalesce(f.severity, 'info'))
    WHERE s.rank >= (SELECT rank FROM sev WHERE severity = lower($min_severity))
      AND f.finding_id NOT IN (SELECT finding_id FROM links WHERE finding_id IS NOT NULL)
      AND f.finding_id NOT IN (SELECT finding_id FROM explained_benign WHERE finding_id IS NOT NULL)
      AND NOT list_bool_and(list_transform(coalesce(f.evidence_refs, []), lambda r: r.tbl = 'agent_steps'))
), tunnel_entry AS (
    -- a process tree that came in through a launch an incident's step made (a reverse tunnel's daemon)
    SELECT f.finding_id, min(l.incident_id) AS incident_id, any_value(l.trajectory_id) AS trajectory_id,
           any_value(l.step) AS step
    FROM f
    JOIN processes p ON p.host = f.host
        AND p.pid = TRY_CAST(json_extract(f.details, '$.entered_via.launch_pid') AS BIGINT)
    JOIN link_rows lr ON lr.tbl = 'processes' AND lr.evidence_id = p.evidence_id AND lr.locator = p.locator
    JOIN links l ON l.link_id = lr.link_id
    GROUP BY f.finding_id
), finding_items AS (
    SELECT 'finding' AS item_kind, f.finding_id, f.kind, f.title, f.severity, f.ts_start_corrected AS ts_start,
           coalesce(f.ts_end_corrected, f.ts_start_corrected) AS ts_end, f.host, f.src_ip, f.dst_ip, f.dst_port,
           len(f.evidence_refs) AS n_records, f.summary,
           CASE WHEN te.finding_id IS NOT NULL THEN format(
               'a process tree in sandbox {} that no step of {} accounts for; it came in through {} (pid {}), which {} step {} launched: someone used what the agent opened',
               coalesce(json_extract_string(f.details, '$.sandbox'), '?'),
               coalesce(array_to_string(CAST(json_extract(f.details, '$.trajectories') AS VARCHAR[]), ', '), 'its trajectory'),
               coalesce(json_extract_string(f.details, '$.entered_via.argv'), 'a launch'),
               json_extract_string(f.details, '$.entered_via.pid'), te.trajectory_id, te.step) END AS entry_reason,
           json_extract_string(f.details, '$.sandbox') AS detail_sandbox,
           coalesce(json_extract_string(f.details, '$.container_id'), 'host') = 'host'
               AND json_extract(f.details, '$.pid') IS NOT NULL AS host_process,
           te.incident_id AS related_incident_id, f.evidence_refs
    FROM f LEFT JOIN tunnel_entry te ON te.finding_id = f.finding_id
), covered AS (
    SELECT tbl, evidence_id, locator FROM link_rows
    UNION
    SELECT r.tbl, r.evidence_id, r.locator FROM (SELECT unnest(evidence_refs) AS r FROM findings)
), denied AS (
    SELECT n.* FROM net_events_corrected n
    WHERE n.action IN ('deny', 'alert')
      AND NOT EXISTS (SELECT 1 FROM covered c WHERE c.tbl = 'net_events' AND c.evidence_id = n.evidence_id
                      AND c.locator = n.locator)
), groups AS (
    SELECT d.src_ip, coalesce(d.direction, net_direction(d.src_ip, d.dst_ip)) AS direction, d.action,
           count(*) AS n, min(d.ts_corrected) AS first_c, max(coalesce(d.ts_end_corrected, d.ts_corrected)) AS last_c,
           list(DISTINCT d.host ORDER BY d.host) FILTER (WHERE d.host IS NOT NULL) AS hosts,
           list(DISTINCT d.dst_ip ORDER BY d.dst_ip) AS dsts, list(DISTINCT d.dst_port ORDER BY d.dst_port) AS ports,
           list(DISTINCT coalesce(d.label, d.rule) ORDER BY coalesce(d.label, d.rule))
               FILTER (WHERE coalesce(d.label, d.rule) IS NOT NULL) AS rules,
           list(DISTINCT d.source_format ORDER BY d.source_format) AS formats,
           list({'tbl': 'net_events', 'evidence_id': d.evidence_id, 'locator': d.locator}
                ORDER BY d.ts_corrected, d.evidence_id, d.locator)[1:20] AS refs
    FROM denied d GROUP BY ALL
), network_items AS (
    SELECT 'network' AS item_kind, NULL AS finding_id,
           CASE WHEN g.action = 'alert' THEN 'firewall_alert' ELSE 'denied_traffic' END AS kind,
           format('{} {} record(s) from {}', g.n, CASE WHEN g.action = 'alert' THEN 'alerted' ELSE 'denied' END,
                  coalesce(g.src_ip, '?')) AS title,
           CASE WHEN g.action = 'alert' THEN 'high' ELSE 'low' END AS severity,
           g.first_c AS ts_start, g.last_c AS ts_end, g.hosts[1] AS host, g.src_ip,
           CASE WHEN len(g.dsts) = 1 THEN g.dsts[1] END AS dst_ip,
           CASE WHEN len(g.ports) = 1 THEN g.ports[1] END AS dst_port, g.n AS n_records,
           format('{} {} {} record(s) ({}) from {} to {} (port{} {}) on {}, {} to {}', g.n, g.direction,
                  CASE WHEN g.action = 'alert' THEN 'alerted' ELSE 'denied' END, array_to_string(g.formats, ', '),
                  coalesce(g.src_ip, '?'), array_to_string(g.dsts[1:5], ', ') || CASE WHEN len(g.dsts) > 5 THEN ', ...' ELSE '' END,
                  CASE WHEN len(g.ports) > 1 THEN 's' ELSE '' END,
                  array_to_string(g.ports[1:8], ', '), array_to_string(g.hosts, ', '),
                  strftime(g.first_c, '%H:%M:%S'), strftime(g.last_c, '%H:%M:%S'))
           || CASE WHEN len(g.rules) > 0 THEN ': ' || array_to_string(g.rules[1:4], ', ') ELSE '' END AS summary,
           NULL AS entry_reason, NULL AS detail_sandbox, false AS host_process,
           NULL::INTEGER AS related_incident_id, g.refs AS evidence_refs
    FROM groups g
), items AS (
    SELECT * FROM finding_items UNION ALL SELECT * FROM network_items
), addr AS (
    -- what each address is: a host's own, or a sandbox's (with its first lease)
    SELECT ip, any_value(host) AS host, bool_or(sandbox IS NOT NULL) AS is_sandbox,
           arg_min(sandbox, valid_from) AS sandbox, min(valid_from) AS first_lease, max(valid_to) AS last_lease
    FROM host_addresses WHERE ip IS NOT NULL GROUP BY ip
), leased AS (
    SELECT i.src_ip, i.ts_start, any_value(a.sandbox) AS sandbox
    FROM items i JOIN host_addresses a ON a.ip = i.src_ip AND a.sandbox IS NOT NULL
        AND (a.valid_from IS NULL OR a.valid_from <= i.ts_start) AND (a.valid_to IS NULL OR a.valid_to >= i.ts_start)
    GROUP BY ALL
), roles AS (
    SELECT value AS host, any_value(json_extract_string(attributes, '$.role')) AS role
    FROM entities WHERE kind = 'host' GROUP BY value
), sandbox_hosts AS (
    SELECT DISTINCT host FROM entities WHERE kind IN ('sandbox', 'trajectory') AND host IS NOT NULL
)
SELECT i.item_kind, i.finding_id, i.kind, i.title, i.severity, i.ts_start, i.ts_end, i.host, i.src_ip, i.dst_ip,
       i.dst_port, i.n_records, i.summary,
       'not caused by any agent step in evidence: ' || CASE
           WHEN i.entry_reason IS NOT NULL THEN i.entry_reason
           WHEN i.src_ip IS NOT NULL AND NOT ip_is_cluster(i.src_ip) THEN format(
               'traffic from {}, outside the cluster{}; no agent step can originate it', i.src_ip,
               CASE WHEN i.dst_ip IS NOT NULL THEN ', to ' || i.dst_ip || coalesce(':' || i.dst_port, '') ELSE '' END)
           WHEN a.is_sandbox AND l.sandbox IS NULL AND a.first_lease IS NOT NULL AND i.ts_start < a.first_lease THEN format(
               'from {}, the address of sandbox {} on {}, before its trajectory''s first step ({}): the sandbox''s own start-up, not an agent step',
               i.src_ip, a.sandbox, a.host, strftime(a.first_lease, '%H:%M:%S'))
           WHEN a.is_sandbox AND l.sandbox IS NULL THEN format(
               'from {} on {}, an address no sandbox lease in evidence covers at that time', i.src_ip, a.host)
           WHEN l.sandbox IS NOT NULL THEN format(
               'from {} (sandbox {} on {}), but no step of its trajectory names {} or ran then', i.src_ip, l.sandbox,
               a.host, coalesce(i.dst_ip, 'it'))
           WHEN a.host IS NOT NULL AND a.host NOT IN (SELECT host FROM sandbox_hosts) THEN format(
               'from {} ({}{}), a host that runs no agent sandbox', i.src_ip, a.host, coalesce(', role ' || r.role, ''))
           WHEN i.detail_sandbox IS NOT NULL THEN format(
               'in sandbox {}, but no step of its trajectory names it, runs it or precedes it', i.detail_sandbox)
           WHEN i.host_process THEN format('a process on {} itself, outside any sandbox', i.host)
           WHEN a.host IS NOT NULL THEN format('from {} itself ({}), not from a sandbox', a.host, i.src_ip)
           ELSE 'no agent step in evidence names its address or program, runs where it happened, or precedes it'
       END AS reason,
       i.related_incident_id, i.evidence_refs
FROM items i
LEFT JOIN addr a ON a.ip = i.src_ip
LEFT JOIN leased l ON l.src_ip = i.src_ip AND l.ts_start = i.ts_start
LEFT JOIN roles r ON r.host = a.host
ORDER BY i.ts_start NULLS LAST, i.item_kind, i.kind, i.finding_id, i.src_ip
