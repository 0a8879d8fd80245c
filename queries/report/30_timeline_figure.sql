-- title: Timeline figure
-- description: The host with the most serious findings: GPU utilisation of its GPUs, with agent
--   steps, tunnel and mining sessions and firewall alerts on the same UTC time axis. The window
--   spans its medium-or-worse findings (the figure widens it to the agent actions just before).
-- layout: plot
-- empty: omit
-- skip_if_rows_in: incidents
WITH serious AS (
    SELECT * FROM findings
    WHERE host IS NOT NULL AND ts_start IS NOT NULL AND severity IN ('medium', 'high', 'critical')
), top_host AS (
    SELECT host FROM serious GROUP BY host
    ORDER BY count(*) FILTER (WHERE severity = 'critical') DESC, count(*) FILTER (WHERE severity = 'high') DESC,
             count(*) DESC, host
    LIMIT 1
)
SELECT s.host, min(s.ts_start) AS window_start, max(coalesce(s.ts_end, s.ts_start)) AS window_end,
       count(*) AS findings, list(DISTINCT s.kind ORDER BY s.kind) AS kinds
FROM serious s JOIN top_host USING (host)
GROUP BY s.host
