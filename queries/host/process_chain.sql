-- title: Parent chain of a process, up to its sandbox's init
-- description: From one launch (host and pid; the one alive at `at`, or the latest) up through
--   its parents: the parent each source names (Tetragon's exec id) or the latest launch of the
--   parent pid at or before the child's start. Stops at the sandbox's init process (or at the
--   first process whose parent launch is not in the evidence). depth 0 is the process itself.
-- param host: required -- the host the process ran on
-- param pid: required -- its process id
-- param at: null -- an ISO 8601 time: take the launch of that pid alive then (default: the latest)
-- param max_depth: 64 -- generations to climb at most
WITH RECURSIVE tree AS MATERIALIZED (
    SELECT * FROM process_tree
), start AS (
    SELECT * FROM tree
    WHERE host = $host AND pid = $pid AND ($at IS NULL OR ts <= CAST($at AS TIMESTAMPTZ))
    ORDER BY ts DESC
    LIMIT 1
), chain AS (
    SELECT 0 AS depth, proc_id, parent_proc_id, sandbox_root FROM start
    UNION ALL
    SELECT c.depth + 1, t.proc_id, t.parent_proc_id, t.sandbox_root
    FROM chain c JOIN tree t ON t.proc_id = c.parent_proc_id
    WHERE c.depth < $max_depth AND c.proc_id IS DISTINCT FROM c.sandbox_root
)
SELECT c.depth, t.host, t.pid, t.ppid, t.ts, t.exe, t.argv, t.cmdline, t.uid, t.cwd, t.sandbox,
       t.container_id, t.proc_id = t.sandbox_root AS is_sandbox_init, t.proc_id, t.source_format,
       t.evidence_id, t.locator
FROM chain c JOIN tree t USING (proc_id)
ORDER BY c.depth
