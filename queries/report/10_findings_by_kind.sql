-- title: Findings by kind
-- description: Stored findings counted by kind and severity, most severe first; the detector that
--   produced them and the ATT&CK techniques they carry.
SELECT kind, severity, count(*) AS findings, string_agg(DISTINCT detector, ', ' ORDER BY detector) AS detectors,
       list_sort(list_distinct(flatten(list(coalesce(attack_ids, []::VARCHAR[]))))) AS attack_ids,
       min(ts_start) AS first_start, max(coalesce(ts_end, ts_start)) AS last_end
FROM findings
GROUP BY kind, severity
ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3
                       WHEN 'info' THEN 4 ELSE 5 END, kind, severity
