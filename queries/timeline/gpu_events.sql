-- title: GPU events on the timeline
-- description: XID errors, retired pages and the NVML collector starting and stopping.
SELECT ts, host, 'gpu' AS source, 'gpu_' || event AS kind,
       CASE WHEN event = 'xid' THEN 'XID ' || coalesce(xid::VARCHAR, '?') || ' on GPU '
                || coalesce(gpu_index::VARCHAR || ' ', '') || coalesce('(' || gpu_uuid || ')', '')
                || coalesce(' pid ' || pid, '') || coalesce(': ' || detail, '')
            ELSE event || coalesce(' ' || gpu_uuid, '') || coalesce(': ' || detail, '') END AS summary,
       CASE WHEN event = 'xid' THEN 'medium' ELSE 'info' END AS severity, evidence_id, locator
FROM gpu_events WHERE ts IS NOT NULL
