-- title: Records by table
-- description: How many records each parser put into each table, summed over the evidence files
--   (from the evidence registry's per-file counts).
SELECT t.key AS "table", count(*) AS files, sum(t.value::BIGINT) AS records
FROM evidence e, json_each(e.records_by_table) t
WHERE e.status = 'parsed'
GROUP BY t.key
ORDER BY t.key
