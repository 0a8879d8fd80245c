-- title: Agent step -> process -> GPU -> socket chains
-- description: The strongest chain a responder can show, one row per launch that held a GPU or
--   connected outside the cluster: the agent step whose command explains it (best candidate of
--   step_process_candidates, with basis and confidence; empty when no step does), the launch (pid,
--   parent, argv, sandbox), the GPUs the same pid held (host pid, latest launch at or before the
--   GPU record) and its connects to external addresses. Each part keeps its evidence reference.
-- param min_confidence: 0.5  -- weakest step match shown
-- param window_s: 120  -- how long after a step without end time a launch still counts
-- param skew_s: 10  -- clock difference tolerated between transcript, host and GPU telemetry
WITH launches AS MATERIALIZED (
    SELECT * FROM process_tree WHERE pid IS NOT NULL
), g AS (
    SELECT gp.*, ts + to_seconds($skew_s) AS ts_probe FROM gpu_processes gp WHERE pid IS NOT NULL AND ts IS NOT NULL
), gpu AS (
    SELECT l.proc_id, g.gpu_uuid, g.gpu_index, min(g.ts) AS first_seen, max(g.ts) AS last_seen,
           max(g.used_mib) AS max_used_mib, count(*) AS n_records,
           arg_min(g.evidence_id, g.ts) AS evidence_id, arg_min(g.locator, g.ts) AS locator
    FROM g ASOF JOIN launches l ON g.host = l.host AND g.pid = l.pid AND g.ts_probe >= l.ts
    GROUP BY l.proc_id, g.gpu_uuid, g.gpu_index
), gpus AS (
    SELECT proc_id, min(first_seen) AS gpu_first_seen, max(last_seen) AS gpu_last_seen,
           list({'gpu_uuid': gpu_uuid, 'gpu_index': gpu_index, 'first_seen': first_seen, 'last_seen': last_seen,
                 'max_used_mib': max_used_mib, 'records': n_records} ORDER BY gpu_index, gpu_uuid) AS gpus,
           arg_min({'tbl': 'gpu_processes', 'evidence_id': evidence_id, 'locator': locator}, first_seen) AS gpu_ref
    FROM gpu GROUP BY proc_id
), sockets AS (
    SELECT proc_id, min(ts) AS first_connect_ts,
           list({'ts': ts, 'remote_ip': remote_ip, 'remote_port': remote_port, 'success': success, 'result': result}
                ORDER BY ts) AS connects,
           arg_min({'tbl': 'process_sockets', 'evidence_id': evidence_id, 'locator': locator}, ts) AS socket_ref
    FROM process_connections
    WHERE proc_id IS NOT NULL AND remote_ip IS NOT NULL AND NOT ip_is_internal(remote_ip) AND NOT ip_is_private(remote_ip)
      AND coalesce(remote_port, 0) <> 53
    GROUP BY proc_id
), steps AS (
    SELECT * FROM step_process_candidates(window_s := $window_s, skew_s := $skew_s)
    WHERE best_for_process AND confidence >= $min_confidence
)
SELECT st.trajectory_id, st.step, st.call_index, st.step_ts, st.command, st.basis, st.confidence,
       l.host, l.pid, l.ppid, l.exe, l.argv, l.ts AS proc_ts, l.sandbox,
       gp.gpus, gp.gpu_first_seen, gp.gpu_last_seen, so.connects, so.first_connect_ts,
       st.trajectory_id IS NOT NULL AS has_step, gp.proc_id IS NOT NULL AS has_gpu, so.proc_id IS NOT NULL AS has_external_socket,
       list_filter([CASE WHEN st.trajectory_id IS NOT NULL THEN {'tbl': 'agent_steps', 'evidence_id': st.step_evidence_id,
                                                              'locator': st.step_locator} END,
                    {'tbl': 'processes', 'evidence_id': l.evidence_id, 'locator': l.locator},
                    gp.gpu_ref, so.socket_ref], lambda r: r IS NOT NULL) AS evidence_refs,
       l.proc_id
FROM launches l
LEFT JOIN gpus gp USING (proc_id)
LEFT JOIN sockets so USING (proc_id)
LEFT JOIN steps st USING (proc_id)
WHERE gp.proc_id IS NOT NULL OR so.proc_id IS NOT NULL
ORDER BY l.ts, l.host, l.pid
