-- title: Incident figures
-- description: Per incident, the timeline figure of the host most of its links happened on: GPU
--   utilisation of that host's GPUs, with the agent steps, tunnel and mining sessions, GPU
--   diversion and alerts on the same clock-corrected UTC axis, over the incident's time span.
-- layout: plot
-- empty: omit
WITH per_host AS (
    SELECT incident_id, coalesce(effect_host, cause_host) AS host, count(*) AS links
    FROM links WHERE incident_id IS NOT NULL AND coalesce(effect_host, cause_host) IS NOT NULL
    GROUP BY ALL
), main_host AS (
    SELECT incident_id, host, links FROM per_host
    QUALIFY row_number() OVER (PARTITION BY incident_id ORDER BY links DESC, host) = 1
)
SELECT i.incident_id, m.host, i.first_ts AS window_start, i.last_ts AS window_end, m.links,
       'Incident ' || i.incident_id || coalesce(': ' || i.title, '') || ' (' || m.host || ')' AS title
FROM incidents i JOIN main_host m USING (incident_id)
ORDER BY i.incident_id
