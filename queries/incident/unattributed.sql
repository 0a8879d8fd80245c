-- title: What is suspicious and that no agent step in evidence explains
-- description: Findings (other than those describing agent steps themselves) that no link ties to
--   an agent step, and firewall records that denied or alerted on traffic that no link and no
--   finding covers, grouped by source, direction and action. Each gets the reason no agent step
--   can explain it: traffic from outside the cluster, from a host that runs no sandbox, on the
--   host outside any sandbox, before the sandbox's trajectory started, or a process tree in a
--   sandbox that no step accounts for (with the tunnel it came in through, and that tunnel's
--   incident). Times are clock-corrected.
-- param min_severity: low  -- the least severe finding reported (info, low, medium, high, critical)
WITH sev AS (
    SELECT * FROM (VALUES ('info', 0), ('low', 1), ('medium', 2), ('high', 3), ('critical', 4)) AS t(severity, rank)
), linked_findings AS (
    SELECT DISTINCT finding_id FROM links WHERE finding_id IS NOT NULL
), f AS (
    SELECT f.* FROM findings_corrected f
    JOIN sev s ON s.severity = lower(coalesce(f.severity, 'info'))
    WHERE s.rank >= (SELECT rank FROM sev WHERE severity = lower($min_severity))
      AND f.finding_id NOT IN (SELECT finding_id FROM linked_findings)
      AND NOT list_bool_and(list_transform(coalesce(f.evidence_refs, []), lambda r: r.tbl = 'agent_steps'))
), addr AS (
    SELECT ip, any_value(host) AS host, bool_or(sandbox IS NOT NULL) AS is_sandbox, any_value(sandbox) AS sandbox,
           min(valid_from) AS first_lease
    FROM host_addresses WHERE ip IS NOT NULL GROUP BY ip
), roles AS (
    SELECT value AS host, json_extract_string(attributes, '$.role') AS role FROM entities WHERE kind = 'host'
), sandbox_hosts AS (
    SELECT DISTINCT host FROM entities WHERE kind IN ('sandbox', 'trajectory') AND host IS NOT NULL
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
           CASE
               WHEN te.finding_id IS NOT NULL THEN format(
                   'a process tree in sandbox {} that no step of {} accounts for; it came in through {} (pid {}), which {} step {} launched: someone used what the agent opened',
                   coalesce(json_extract_string(f.details, '$.sandbox'), '?'),
                   coalesce(array_to_string(CAST(json_extract(f.details, '$.trajectories') AS VARCHAR[]), ', '), 'its trajectory'),
                   coalesce(json_extract_string(f.details, '$.entered_via.argv'), 'a launch'),
                   json_extract_string(f.details, '$.entered_via.pid'), te.trajectory_id, te.step)
               WHEN f.src_ip IS NOT NULL AND NOT ip_is_cluster(f.src_ip) THEN format(
                   'traffic from {}, outside the cluster{}; no agent step can originate it', f.src_ip,
                   CASE WHEN f.dst_ip IS NOT NULL THEN ', to ' || f.dst_ip || coalesce(':' || f.dst_port, '') ELSE '' END)
               WHEN src.host IS NOT NULL AND NOT src.is_sandbox AND src.host NOT IN (SELECT host FROM sandbox_hosts)
                   THEN format('from {} ({}{}), a host that runs no agent sandbox', f.src_ip, src.host,
                               coalesce(', role ' || r.role, ''))
               WHEN json_extract_string(f.details, '$.sandbox') IS NOT NULL THEN format(
                   'in sandbox {}, but no step of its trajectory names it, runs it or precedes it',
                   json_extract_string(f.details, '$.sandbox'))
               WHEN coalesce(json_extract_string(f.details, '$.container_id'), 'host') = 'host'
                    AND json_extract(f.details, '$.pid') IS NOT NULL
                   THEN format('a process on {} itself, outside any sandbox', f.host)
               ELSE 'no agent step in evidence names its address or program, runs where it happened, or precedes it'
           END AS why,
           te.incident_id AS related_incident_id, f.evidence_refs
    FROM f
    LEFT JOIN tunnel_entry te ON te.finding_id = f.finding_id
    LEFT JOIN addr src ON src.ip = f.src_ip
    LEFT JOIN roles r ON r.host = src.host
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
           CASE
               WHEN g.src_ip IS NOT NULL AND NOT ip_is_cluster(g.src_ip) THEN format(
                   'traffic from {}, outside the cluster; no agent step can originate it', g.src_ip)
               WHEN src.is_sandbox AND src.first_lease IS NOT NULL AND g.last_c < src.first_lease THEN format(
                   'from {}, the address of sandbox {} on {}, before its trajectory''s first step ({}): the sandbox''s own start-up, not an agent step',
                   g.src_ip, src.sandbox, src.host, strftime(src.first_lease, '%H:%M:%S'))
               WHEN src.is_sandbox THEN format(
                   'from {} (sandbox {} on {}), but no step of its trajectory names {} or ran then', g.src_ip,
                   src.sandbox, src.host, array_to_string(g.dsts[1:3], ', '))
               WHEN src.host IS NOT NULL AND src.host NOT IN (SELECT host FROM sandbox_hosts) THEN format(
                   'from {} ({}{}), a host that runs no agent sandbox', g.src_ip, src.host, coalesce(', role ' || r.role, ''))
               WHEN src.host IS NOT NULL THEN format('from {} itself ({}), not from a sandbox', src.host, g.src_ip)
               ELSE 'no agent step in evidence names these addresses or ran where they came from'
           END AS why,
           NULL::INTEGER AS related_incident_id, g.refs AS evidence_refs
    FROM groups g
    LEFT JOIN addr src ON src.ip = g.src_ip
    LEFT JOIN roles r ON r.host = src.host
)
SELECT item_kind, finding_id, kind, title, severity, ts_start, ts_end, host, src_ip, dst_ip, dst_port, n_records,
       summary, 'not caused by any agent step in evidence: ' || why AS reason, related_incident_id, evidence_refs
FROM (SELECT * FROM finding_items UNION ALL SELECT * FROM network_items)
ORDER BY ts_start NULLS LAST, item_kind, kind, finding_id, src_ip
