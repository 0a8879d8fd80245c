-- title: Incident answers
-- description: What each incident answers, as the incident queries (queries/incident/) worked it out
--   from the links: the first agent action, the tunnels, the probes, the mining (pool, coin, wallet,
--   shares), the GPUs diverted and their cost, the detection latency, the trajectories to exclude
--   from training and what remains unattributed.
-- layout: record
-- heading: question
-- group: incident
-- empty: omit
SELECT 'incident ' || i.incident_id || coalesce(': ' || i.title, '') AS incident,
       replace(a.key, '_', ' ') AS question, a.value AS answer
FROM incidents i, json_each(i.answers) a
ORDER BY i.incident_id,
         coalesce(list_position(['first_agent_action', 'probes', 'tunnels', 'mining', 'gpus', 'detection_latency',
                                 'trajectories_to_exclude', 'unattributed'], a.key), 99),
         a.key
