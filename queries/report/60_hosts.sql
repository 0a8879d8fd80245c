-- title: Hosts
-- description: The hosts the inventory and the evidence name, with their addresses, GPUs and jobs
--   (from the entities table).
-- empty: omit
WITH hosts AS (
    SELECT DISTINCT coalesce(host, CASE WHEN kind = 'host' THEN value END) AS host
    FROM entities WHERE coalesce(host, CASE WHEN kind = 'host' THEN value END) IS NOT NULL
)
SELECT h.host,
       (SELECT min(json_extract_string(attributes, '$.role')) FROM entities
        WHERE kind = 'host' AND value = h.host) AS role,
       (SELECT list(DISTINCT value ORDER BY value) FROM entities WHERE kind = 'ip' AND host = h.host) AS ips,
       (SELECT list(DISTINCT value ORDER BY value) FROM entities WHERE kind = 'public_ip' AND host = h.host) AS public_ips,
       (SELECT count(DISTINCT value) FROM entities WHERE kind = 'gpu_uuid' AND host = h.host) AS gpus,
       (SELECT list(DISTINCT job ORDER BY job) FROM entities WHERE host = h.host AND job IS NOT NULL) AS jobs,
       (SELECT count(DISTINCT value) FROM entities WHERE kind = 'sandbox' AND host = h.host) AS sandboxes
FROM hosts h
ORDER BY h.host
