-- title: Trajectories to exclude from training data
-- description: Every trajectory of an incident, and every other trajectory with a serious agent
--   step (tunnel, scan, mining, download and run, persistence, credential access, defence
--   evasion) even when nothing in evidence shows an effect (blocked, or no logs of its host): its
--   run, the incident (if any), the first such step and why. The plain list of trajectory ids is
--   what a data-filtering pipeline takes (forensics exclusions).
-- answer: trajectories_to_exclude
-- shape: many
WITH inc AS (
    SELECT trajectory_id, min(incident_id) AS incident_id FROM links WHERE incident_id IS NOT NULL GROUP BY ALL
), serious AS (
    SELECT trajectory_id, any_value(run_id) AS run_id, min(ts) AS first_ts,
           arg_min(step, ts) AS first_step,
           list(DISTINCT c ORDER BY c) AS categories
    FROM (SELECT *, unnest(categories) AS c FROM link_steps WHERE serious)
    WHERE c <> 'recon'
    GROUP BY trajectory_id
), every AS (
    SELECT coalesce(s.trajectory_id, i.trajectory_id) AS trajectory_id, i.incident_id, s.run_id, s.first_ts,
           s.first_step, s.categories
    FROM serious s FULL JOIN inc i USING (trajectory_id)
)
SELECT e.incident_id,
       {'trajectory_id': e.trajectory_id, 'run_id': coalesce(e.run_id, (SELECT any_value(run_id) FROM link_steps ls
                                                                        WHERE ls.trajectory_id = e.trajectory_id)),
        'incident_id': e.incident_id, 'first_serious_step': e.first_step, 'first_serious_ts': e.first_ts,
        'categories': e.categories,
        'reason': CASE WHEN e.incident_id IS NOT NULL
                       THEN format('part of incident {}: {}', e.incident_id, array_to_string(coalesce(e.categories, []), ', '))
                       ELSE format('serious agent steps ({}) with no effect in evidence', array_to_string(e.categories, ', '))
                  END} AS answer
FROM every e
ORDER BY e.incident_id NULLS LAST, e.trajectory_id
