-- title: Falco alert
-- description: Falco's own alerts, under their rule names: repeats of one rule for one process
--   (host, pid, container) make one finding with the count, first and last time. Severity follows
--   Falco's priority; ATT&CK ids come from the rule's tags (T1496 for the miner rules, T1059 for
--   the reverse-shell rule).
-- param min_priority: notice  -- the lowest Falco priority reported (emergency ... debug)
-- attack: T1496
WITH ranked AS (
    SELECT *, CASE lower(priority) WHEN 'emergency' THEN 0 WHEN 'alert' THEN 1 WHEN 'critical' THEN 2
                  WHEN 'error' THEN 3 WHEN 'warning' THEN 4 WHEN 'notice' THEN 5
                  WHEN 'informational' THEN 6 WHEN 'info' THEN 6 ELSE 7 END AS level,
           list_filter(coalesce(tags, []), lambda t: regexp_full_match(t, 'T\d{4}(\.\d{3})?')) AS attack_tags
    FROM falco_alerts
), g AS (
    SELECT host, rule, pid, container_id,
           min(ts) AS ts_start, max(ts) AS ts_end, count(*) AS n_alerts, min(level) AS level,
           arg_min(priority, level) AS priority, arg_min(severity, level) AS severity,
           arg_min(cmdline, ts) AS cmdline, arg_min(exe, ts) AS exe, any_value(pod) AS pod,
           any_value(k8s_namespace) AS k8s_namespace, any_value(container_name) AS container_name,
           arg_min(remote_ip, ts) FILTER (WHERE remote_ip IS NOT NULL) AS dst_ip,
           arg_min(remote_port, ts) FILTER (WHERE remote_ip IS NOT NULL) AS dst_port,
           arg_min(local_ip, ts) FILTER (WHERE local_ip IS NOT NULL) AS src_ip,
           list_sort(list_distinct(flatten(list(attack_tags)))) AS attack,
           arg_min(output, ts) AS output,
           list({'tbl': 'falco_alerts', 'evidence_id': evidence_id, 'locator': locator} ORDER BY ts)[1:20] AS refs
    FROM ranked
    GROUP BY host, rule, pid, container_id
)
SELECT 'falco_alert' AS kind,
       'Falco: ' || rule AS title,
       severity,
       CASE WHEN level <= 2 THEN 0.9 WHEN level <= 4 THEN 0.75 ELSE 0.6 END AS confidence,
       ts_start, ts_end, host, src_ip, dst_ip, dst_port,
       rule || ' (' || priority || ') on ' || coalesce(host, '?') || coalesce(' pid ' || pid, '')
           || coalesce(' in ' || coalesce(pod, container_name, container_id), '')
           || coalesce(': ' || left(cmdline, 240), '')
           || CASE WHEN n_alerts > 1 THEN ' (' || n_alerts || ' alerts)' ELSE '' END AS summary,
       coalesce(attack, []) AS attack_ids,
       refs AS evidence_refs,
       json_object('rule', rule, 'priority', priority, 'alerts', n_alerts, 'pid', pid, 'exe', exe,
                   'cmdline', cmdline, 'container_id', container_id, 'pod', pod, 'namespace', k8s_namespace,
                   'output', left(output, 2000)) AS details
FROM g
WHERE level <= CASE lower($min_priority) WHEN 'emergency' THEN 0 WHEN 'alert' THEN 1 WHEN 'critical' THEN 2
                    WHEN 'error' THEN 3 WHEN 'warning' THEN 4 WHEN 'notice' THEN 5
                    WHEN 'informational' THEN 6 WHEN 'info' THEN 6 ELSE 7 END
