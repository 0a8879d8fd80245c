-- title: Agent step fetched or ran a crypto miner
-- description: A step naming a miner binary, a stratum pool URL, a wallet address or miner flags (--donate-level,
--   --cuda, -o/-u); the pool endpoint, wallet and GPU devices are in details.
--   One finding per step (agent_actions grouped), with run, trajectory, step, sandbox, command and
--   indicators in details; host from the step or, failing that, the trajectory's lease.
-- param min_confidence: 0.6  -- lowest indicator confidence that counts
-- attack: T1496
WITH a AS (
    SELECT * FROM agent_actions WHERE category = 'mining' AND confidence >= $min_confidence
), g AS (
    SELECT evidence_id, locator, trajectory_id, step,
           any_value(run_id) AS run_id, any_value(sandbox) AS sandbox, any_value(sandbox_ip) AS sandbox_ip,
           any_value(host) AS host, min(ts) AS ts, any_value(ts_basis) AS ts_basis,
           list(DISTINCT technique ORDER BY technique) AS techniques,
           list(DISTINCT attack_id ORDER BY attack_id) FILTER (WHERE attack_id IS NOT NULL) AS attack_ids,
           max(confidence) AS confidence,
           arg_max(ip, confidence) FILTER (WHERE indicator_kind = 'ip' AND ip IS NOT NULL) AS dst_ip,
           arg_max(hostname, confidence) FILTER (WHERE indicator_kind = 'host') AS dst_host,
           arg_max(port, confidence) FILTER (WHERE indicator_kind IN ('ip', 'host') AND port IS NOT NULL) AS dst_port,
           list(DISTINCT indicator_kind || '=' || indicator_value ORDER BY indicator_kind || '=' || indicator_value)
               FILTER (WHERE indicator_kind NOT IN ('flag')) AS values,
           -- --cuda-devices=6,7 / -d 6,7: the GPU indexes the miner was pointed at
           list(DISTINCT regexp_extract(indicator_value, '=(.*)$', 1) ORDER BY regexp_extract(indicator_value, '=(.*)$', 1))
               FILTER (WHERE detail = 'gpu devices') AS gpu_devices,
           to_json(list({'kind': indicator_kind, 'value': indicator_value, 'technique': technique,
                          'basis': basis, 'confidence': confidence, 'attack_id': attack_id}
                        ORDER BY technique, indicator_kind, indicator_value)) AS indicators
    FROM a GROUP BY evidence_id, locator, trajectory_id, step
)
SELECT 'agent_mining' AS kind,
       'critical' AS severity,
       g.confidence,
       g.ts AS ts_start,
       coalesce(s.ts_end, g.ts) AS ts_end,
       coalesce(g.host, t.host) AS host,
       g.sandbox_ip AS src_ip,
       g.dst_ip,
       g.dst_port,
       'trajectory ' || coalesce(g.trajectory_id, '?') || ' step ' || coalesce(g.step::VARCHAR, '?')
           || coalesce(' on ' || coalesce(g.host, t.host), '') || ': ' || array_to_string(g.techniques, ', ')
           || coalesce(' (' || array_to_string(g.values[1:6], ', ') || ')', '')
           || coalesce(' on GPUs ' || array_to_string(g.gpu_devices, ' '), '') AS summary,
       g.attack_ids,
       [{'tbl': 'agent_steps', 'evidence_id': g.evidence_id, 'locator': g.locator}] AS evidence_refs,
       json_object('run_id', g.run_id, 'trajectory_id', g.trajectory_id, 'step', g.step, 'sandbox', g.sandbox,
                   'sandbox_ip', g.sandbox_ip, 'command', left(s.command, 2000), 'tool', s.tool,
                   'ts_basis', g.ts_basis, 'dst_host', g.dst_host, 'gpu_devices', g.gpu_devices,
                   'indicators', g.indicators) AS details
FROM g
LEFT JOIN agent_steps s ON s.evidence_id = g.evidence_id AND s.locator = g.locator
LEFT JOIN (SELECT value, any_value(host) AS host FROM entities WHERE kind = 'trajectory' GROUP BY value) t
       ON t.value = g.trajectory_id
