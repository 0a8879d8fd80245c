-- title: Host process evidence: processes, their sockets, Falco alerts, and the process tree
-- description: processes holds one process launch (an execve seen by auditd, laurel or Tetragon);
--   process_sockets one connect/bind/accept by a process; falco_alerts one Falco alert with its
--   output fields. Views tie each launch to its parent (process_lineage) and to the sandbox whose
--   init process it descends from (process_tree). Times are stored as the host logged them.

CREATE TABLE IF NOT EXISTS processes (
    ts TIMESTAMPTZ,           -- when the process image started (the execve), UTC, as the host's clock said
    ts_end TIMESTAMPTZ,       -- when it exited, when the same evidence says
    ts_raw VARCHAR,           -- the stamp as written (audit(1771294323.123:4567), RFC 3339 ...)
    ts_inferred BOOLEAN,      -- the zone came from a hint (ausearch -i prints local time)
    host VARCHAR,             -- node= of the record, or the evidence's host hint
    pid BIGINT,               -- host pid (the thread-group id)
    ppid BIGINT,
    ns_pid BIGINT,            -- pid inside the container's pid namespace, when the source says
    uid BIGINT,
    auid BIGINT,              -- audit (login) uid; NULL when unset (4294967295)
    user_name VARCHAR,        -- user name when the source gives names (ausearch -i, enriched logs)
    exe VARCHAR,              -- the executable's path as the kernel resolved it
    comm VARCHAR,             -- the 15-character task name
    argv VARCHAR[],           -- the full argument vector, decoded
    cmdline VARCHAR,          -- argv joined with spaces (for reading and LIKE searches)
    argv_source VARCHAR,      -- execve (complete), proctitle (truncated at 128 bytes), arguments (Tetragon)
    cwd VARCHAR,
    syscall VARCHAR,          -- execve, execveat
    success BOOLEAN,          -- false: the exec failed (the old image kept running)
    exit_code VARCHAR,        -- the syscall's return (0, ENOENT, EACCES ...)
    container_id VARCHAR,     -- as the source names it (full or short id, without runtime:// prefix)
    pod VARCHAR,
    k8s_namespace VARCHAR,
    sandbox VARCHAR,          -- set on a sandbox's init process (sandbox-init --sandbox-id ...);
                              -- descendants get theirs through the process_tree view
    exec_id VARCHAR,          -- unique id of this launch: Tetragon's exec_id, or host:audit event id
    parent_exec_id VARCHAR,   -- the parent's exec_id when the source states it (Tetragon)
    audit_key VARCHAR,        -- the audit rule key (-k)
    event_id VARCHAR,         -- the audit event id (epoch.ms:serial) or the source's event id
    source_format VARCHAR,    -- auditd, laurel, tetragon
    evidence_id INTEGER,
    locator VARCHAR,
    extra JSON                -- other fields of the record (PATH names, euid, tty, ses, flags ...)
);

CREATE TABLE IF NOT EXISTS process_sockets (
    ts TIMESTAMPTZ,
    ts_raw VARCHAR,
    ts_inferred BOOLEAN,
    host VARCHAR,
    pid BIGINT,
    ppid BIGINT,
    exe VARCHAR,
    comm VARCHAR,
    syscall VARCHAR,          -- connect, bind, accept, sendto, tcp_connect ...
    family VARCHAR,           -- inet, inet6, local, netlink ...
    remote_ip VARCHAR,        -- the peer (connect, sendto, accept); IPv4-mapped IPv6 shown as IPv4
    remote_port INTEGER,
    local_ip VARCHAR,         -- the local end (bind; Tetragon's saddr)
    local_port INTEGER,
    socket_path VARCHAR,      -- AF_UNIX path (abstract names start with @)
    success BOOLEAN,          -- true: done; false: refused/failed; NULL: outcome unknown (EINPROGRESS)
    result VARCHAR,           -- ok, EINPROGRESS, ECONNREFUSED, ETIMEDOUT ...
    container_id VARCHAR,
    pod VARCHAR,
    exec_id VARCHAR,          -- the launch this socket belongs to, when the source says (Tetragon)
    event_id VARCHAR,
    source_format VARCHAR,
    evidence_id INTEGER,
    locator VARCHAR,
    extra JSON
);

CREATE TABLE IF NOT EXISTS falco_alerts (
    ts TIMESTAMPTZ,
    ts_raw VARCHAR,
    host VARCHAR,             -- Falco's hostname, or the evidence's host hint
    rule VARCHAR,
    priority VARCHAR,         -- Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug
    severity VARCHAR,         -- the priority on our scale (critical, high, medium, low, info)
    alert_source VARCHAR,     -- syscall, k8s_audit, ...
    tags VARCHAR[],
    output VARCHAR,           -- Falco's rendered message
    pid BIGINT,
    ppid BIGINT,
    ns_pid BIGINT,            -- proc.vpid
    proc_name VARCHAR,
    exe VARCHAR,              -- proc.exepath (or proc.exe)
    cmdline VARCHAR,          -- proc.cmdline (name and arguments)
    parent_name VARCHAR,
    user_name VARCHAR,
    container_id VARCHAR,
    container_name VARCHAR,
    image VARCHAR,
    pod VARCHAR,
    k8s_namespace VARCHAR,
    fd_name VARCHAR,          -- fd.name: 10.0.0.1:40000->198.51.100.77:3333
    remote_ip VARCHAR,        -- fd.rip (or fd.sip for an outbound connection)
    remote_port INTEGER,
    local_ip VARCHAR,
    local_port INTEGER,
    evidence_id INTEGER,
    locator VARCHAR,
    output_fields JSON        -- every output field as Falco wrote it
);

-- Audit record values: "quoted" text, hex when the kernel found spaces, quotes or control bytes
-- in it (an odd digit count or a stray character means the line was cut: the whole bytes that
-- are there are decoded), (null) and (none) for nothing.
CREATE OR REPLACE MACRO audit_value(v) AS (
    CASE
        WHEN v IS NULL OR v IN ('', '(null)', '(none)') THEN NULL
        WHEN starts_with(v, '"') THEN
            CASE WHEN length(v) >= 2 AND ends_with(v, '"') THEN substr(v, 2, length(v) - 2) ELSE substr(v, 2) END
        WHEN regexp_full_match(v, '[0-9A-Fa-f]+') THEN
            decode(unhex(left(v, (length(v) // 2) * 2)), 'replace')
        ELSE v
    END
);

-- True when a value that should be hex or quoted was cut short.
CREATE OR REPLACE MACRO audit_value_truncated(v) AS (
    v IS NOT NULL AND ((starts_with(v, '"') AND (length(v) < 2 OR NOT ends_with(v, '"')))
        OR (regexp_full_match(v, '[0-9A-Fa-f]+') AND length(v) % 2 = 1))
);

-- Linux errno numbers as names (the exit= of a failed syscall is -errno).
CREATE OR REPLACE MACRO errno_name(n) AS (
    CASE abs(n)
        WHEN 0 THEN 'ok' WHEN 1 THEN 'EPERM' WHEN 2 THEN 'ENOENT' WHEN 4 THEN 'EINTR' WHEN 7 THEN 'E2BIG'
        WHEN 8 THEN 'ENOEXEC' WHEN 9 THEN 'EBADF' WHEN 11 THEN 'EAGAIN' WHEN 12 THEN 'ENOMEM'
        WHEN 13 THEN 'EACCES' WHEN 14 THEN 'EFAULT' WHEN 22 THEN 'EINVAL' WHEN 88 THEN 'ENOTSOCK'
        WHEN 97 THEN 'EAFNOSUPPORT' WHEN 98 THEN 'EADDRINUSE' WHEN 99 THEN 'EADDRNOTAVAIL'
        WHEN 100 THEN 'ENETDOWN' WHEN 101 THEN 'ENETUNREACH' WHEN 103 THEN 'ECONNABORTED'
        WHEN 104 THEN 'ECONNRESET' WHEN 106 THEN 'EISCONN' WHEN 110 THEN 'ETIMEDOUT'
        WHEN 111 THEN 'ECONNREFUSED' WHEN 113 THEN 'EHOSTUNREACH' WHEN 114 THEN 'EALREADY'
        WHEN 115 THEN 'EINPROGRESS' WHEN 512 THEN 'ERESTARTSYS'
        ELSE 'errno ' || abs(n)
    END
);

-- Syscall numbers of the calls that launch processes or open sockets, per audit arch
-- (x86_64 c000003e, aarch64 c00000b7, i386 40000003). ausearch -i already prints names.
CREATE OR REPLACE MACRO audit_syscall_name(arch, nr) AS (
    CASE
        WHEN nr IS NULL OR nr = '' THEN NULL
        WHEN NOT regexp_full_match(nr, '\d+') THEN nr
        WHEN lower(arch) IN ('c000003e', 'x86_64') THEN coalesce(CASE nr::INTEGER
            WHEN 59 THEN 'execve' WHEN 322 THEN 'execveat' WHEN 42 THEN 'connect' WHEN 49 THEN 'bind'
            WHEN 43 THEN 'accept' WHEN 288 THEN 'accept4' WHEN 44 THEN 'sendto' WHEN 46 THEN 'sendmsg'
            WHEN 56 THEN 'clone' WHEN 57 THEN 'fork' WHEN 58 THEN 'vfork' WHEN 435 THEN 'clone3'
            WHEN 60 THEN 'exit' WHEN 231 THEN 'exit_group' WHEN 62 THEN 'kill' END, nr)
        WHEN lower(arch) IN ('c00000b7', 'aarch64') THEN coalesce(CASE nr::INTEGER
            WHEN 221 THEN 'execve' WHEN 281 THEN 'execveat' WHEN 203 THEN 'connect' WHEN 200 THEN 'bind'
            WHEN 202 THEN 'accept' WHEN 242 THEN 'accept4' WHEN 206 THEN 'sendto' WHEN 211 THEN 'sendmsg'
            WHEN 220 THEN 'clone' WHEN 435 THEN 'clone3' WHEN 93 THEN 'exit' WHEN 94 THEN 'exit_group'
            WHEN 129 THEN 'kill' END, nr)
        WHEN lower(arch) IN ('40000003', 'i386') THEN coalesce(CASE nr::INTEGER
            WHEN 11 THEN 'execve' WHEN 358 THEN 'execveat' WHEN 362 THEN 'connect' WHEN 361 THEN 'bind'
            WHEN 364 THEN 'accept4' WHEN 369 THEN 'sendto' WHEN 370 THEN 'sendmsg' WHEN 102 THEN 'socketcall'
            WHEN 120 THEN 'clone' WHEN 2 THEN 'fork' WHEN 190 THEN 'vfork' WHEN 1 THEN 'exit'
            WHEN 252 THEN 'exit_group' END, nr)
        ELSE nr
    END
);

-- Container ids are written with a runtime prefix (containerd://, docker://, cri-o://) or
-- without, full (64 hex digits) or short (12): compare them prefix-wise after stripping.
CREATE OR REPLACE MACRO container_id_norm(c) AS
    nullif(lower(regexp_replace(trim(c), '^[a-z-]+://', '')), '');
CREATE OR REPLACE MACRO container_id_match(a, b) AS (
    container_id_norm(a) IS NOT NULL AND container_id_norm(b) IS NOT NULL
    AND least(length(container_id_norm(a)), length(container_id_norm(b))) >= 12
    AND (starts_with(container_id_norm(a), container_id_norm(b))
         OR starts_with(container_id_norm(b), container_id_norm(a)))
);

-- Matching a launch to the shell text an agent sent, without a pattern per pair: both sides are
-- reduced to the same words once each (quotes and backslashes dropped, shell operators made words
-- of their own, a path cut to its last component: the agent typed ./xmrig-6.21.0/xmrig, the kernel
-- saw /tmp/.cache/xmrig-6.21.0/xmrig; blanks collapsed, one space at each end), so that "this argv
-- is a run of words of that command" is a substring test.
CREATE OR REPLACE MACRO shell_text_words(t) AS (
    ' ' || trim(regexp_replace(regexp_replace(regexp_replace(regexp_replace(t,
        '[''"\\]', '', 'g'), '([;&|()<>`])', ' \1 ', 'g'), '\S*/', '', 'g'), '\s+', ' ', 'g')) || ' '
);
CREATE OR REPLACE MACRO argv_words(argv) AS shell_text_words(array_to_string(argv, ' '));
-- Shell text with quotes and backslashes dropped and blanks collapsed, for equality tests.
CREATE OR REPLACE MACRO shell_words(t) AS (
    trim(regexp_replace(regexp_replace(t, '[''"\\]', '', 'g'), '\s+', ' ', 'g'))
);

-- A stable key for one launch: the source's exec id, else the evidence row.
CREATE OR REPLACE MACRO process_key(exec_id, evidence_id, locator) AS
    coalesce(exec_id, 'ev' || evidence_id || ':' || locator);

-- Each launch with its parent launch: the parent named by the source (Tetragon), else the latest
-- launch of the parent pid on the same host at or before the child's start (pid reuse safe).
CREATE OR REPLACE VIEW process_lineage AS
WITH p AS (
    SELECT *, process_key(exec_id, evidence_id, locator) AS proc_id FROM processes WHERE ts IS NOT NULL
)
SELECT c.*, coalesce(c.parent_exec_id, par.proc_id) AS parent_proc_id,
       par.exe AS parent_exe, par.argv AS parent_argv, par.ts AS parent_ts
FROM p c
ASOF LEFT JOIN p par ON c.host = par.host AND c.ppid = par.pid AND c.ts >= par.ts;

-- Every launch with the sandbox it runs in: its own (the sandbox's init process states it, or the
-- inventory ties its container id to a sandbox) or the nearest ancestor's. sandbox_root is the
-- proc_id of the topmost launch of that sandbox (its init process); sandbox_depth counts the
-- generations below it.
CREATE OR REPLACE VIEW process_tree AS
WITH RECURSIVE lin AS (
    SELECT * FROM process_lineage
), container_sandbox AS (
    SELECT container_id_norm(value) AS container_id, sandbox
    FROM entities WHERE kind = 'container' AND sandbox IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY container_id ORDER BY valid_from NULLS FIRST, sandbox) = 1
), own AS (
    SELECT l.proc_id, l.parent_proc_id, coalesce(l.sandbox, cs.sandbox) AS own_sandbox,
           coalesce(l.container_id, cs.container_id) AS own_container
    FROM lin l
    LEFT JOIN container_sandbox cs ON l.sandbox IS NULL AND container_id_match(l.container_id, cs.container_id)
    QUALIFY row_number() OVER (PARTITION BY l.proc_id ORDER BY cs.sandbox) = 1
), roots AS (
    SELECT o.proc_id, o.own_sandbox, o.own_container
    FROM own o LEFT JOIN own par ON par.proc_id = o.parent_proc_id
    WHERE o.own_sandbox IS NOT NULL AND par.own_sandbox IS DISTINCT FROM o.own_sandbox
), walk(proc_id, sandbox, container_id, sandbox_root, depth) AS (
    SELECT proc_id, own_sandbox, own_container, proc_id, 0 FROM roots
    UNION ALL
    SELECT c.proc_id, w.sandbox, coalesce(c.own_container, w.container_id), w.sandbox_root, w.depth + 1
    FROM walk w JOIN own c ON c.parent_proc_id = w.proc_id
    WHERE w.depth < 64 AND c.proc_id NOT IN (SELECT proc_id FROM roots)
)
SELECT l.* REPLACE (coalesce(w.sandbox, l.sandbox) AS sandbox,
                    coalesce(l.container_id, w.container_id) AS container_id),
       w.sandbox_root, w.depth AS sandbox_depth
FROM lin l
LEFT JOIN (SELECT * FROM walk QUALIFY row_number() OVER (PARTITION BY proc_id ORDER BY depth) = 1) w
    USING (proc_id);

-- Every socket with the launch it belongs to: the launch the source names (Tetragon exec id), else
-- the latest launch of that pid on that host at or before the socket; a pid with no launch of its
-- own (a fork that never exec'd, such as ssh -f's background daemon) is tied to the latest launch
-- of the same executable with a lower pid, and launch_basis says so.
CREATE OR REPLACE VIEW process_connections AS
WITH tree AS MATERIALIZED (
    SELECT * FROM process_tree WHERE pid IS NOT NULL
), s AS (
    SELECT *, row_number() OVER () AS socket_row FROM process_sockets WHERE ts IS NOT NULL
), by_exec AS (
    SELECT s.socket_row, t.proc_id FROM s JOIN tree t ON s.exec_id IS NOT NULL AND t.exec_id = s.exec_id
), by_pid AS (
    SELECT s.socket_row, t.proc_id FROM s ASOF JOIN tree t ON s.host = t.host AND s.pid = t.pid AND s.ts >= t.ts
), by_fork AS (
    -- the launch of the same executable with the nearest lower pid (a fork's pid follows its parent's)
    SELECT s.socket_row, t.proc_id, t.pid AS launch_pid, t.ts AS launch_ts
    FROM s ASOF JOIN tree t ON s.host = t.host AND s.exe = t.exe AND s.pid > t.pid
    WHERE t.ts <= s.ts
)
SELECT s.* EXCLUDE (socket_row),
       coalesce(e.proc_id, p.proc_id, f.proc_id) AS proc_id,
       CASE WHEN e.proc_id IS NOT NULL THEN 'exec id' WHEN p.proc_id IS NOT NULL THEN 'pid'
            WHEN f.proc_id IS NOT NULL THEN 'forked from the same executable (no exec record of this pid)'
       END AS launch_basis,
       t.pid AS launch_pid, t.ts AS launch_ts, t.argv AS launch_argv, t.sandbox, t.sandbox_root,
       coalesce(s.container_id, t.container_id) AS launch_container_id,
       t.evidence_id AS launch_evidence_id, t.locator AS launch_locator
FROM s
LEFT JOIN by_exec e USING (socket_row)
LEFT JOIN by_pid p USING (socket_row)
LEFT JOIN by_fork f USING (socket_row)
LEFT JOIN tree t ON t.proc_id = coalesce(e.proc_id, p.proc_id, f.proc_id);

-- Agent step -> process candidates (see queries/host/step_processes.sql for what each basis
-- means). A table macro so that the link queries and the unexplained-tree detection share one
-- definition: SELECT * FROM step_process_candidates(window_s := 120, skew_s := 10).
CREATE OR REPLACE MACRO step_process_candidates(window_s := 120, skew_s := 10) AS TABLE
WITH RECURSIVE steps AS (
    SELECT s.run_id, s.trajectory_id, s.step, s.call_index, s.ts, s.ts_end, s.command,
           coalesce(s.sandbox, t.sandbox) AS sandbox, s.container_id, coalesce(s.host, t.host) AS host,
           s.evidence_id, s.locator, shell_words(s.command) AS command_words,
           shell_text_words(s.command) AS text_words,
           -- a step's launches start before the trajectory's next step does (background jobs too:
           -- they are started, not finished, by then); window_s caps steps with no later step
           least(coalesce(s.ts_end, s.ts + to_seconds(window_s)),
                 coalesce(lead(s.ts) OVER (PARTITION BY s.evidence_id, s.trajectory_id ORDER BY s.step, s.call_index),
                          s.ts + to_seconds(window_s)),
                 s.ts + to_seconds(window_s)) AS window_end
    FROM agent_steps s
    LEFT JOIN (SELECT value, any_value(host) AS host, any_value(sandbox) AS sandbox FROM entities
               WHERE kind = 'trajectory' GROUP BY value) t ON t.value = s.trajectory_id
    WHERE s.action = 'exec' AND s.command IS NOT NULL AND s.ts IS NOT NULL
), procs AS MATERIALIZED (
    SELECT *, regexp_extract(coalesce(argv[1], exe), '[^/]*$') AS program,
           regexp_extract(exe, '[^/]*$') AS exe_name, left(container_id_norm(container_id), 12) AS cid12,
           -- a script run through its #! line: the kernel's argv starts with the interpreter, then
           -- the script's path (pip install x -> /usr/bin/python3 /usr/local/bin/pip install x)
           CASE WHEN len(argv) >= 2 AND starts_with(argv[2], '/') AND regexp_full_match(
                         regexp_extract(argv[1], '[^/]*$'),
                         '(python|pypy|perl|ruby|php)[0-9.]*|node(js)?|bash|sh|dash|zsh|ksh|env')
                THEN argv[2:] END AS script_argv,
           argv_words(argv) AS words
    FROM process_tree
    WHERE ts IS NOT NULL AND (sandbox_depth IS NULL OR sandbox_depth > 0)
), pairs AS (
    -- three equi-joins (same sandbox; same container; same host when the step names neither) so
    -- that DuckDB hashes on the key instead of comparing every step with every launch
    SELECT s.*, p.proc_id, p.parent_proc_id, p.host AS proc_host, p.pid, p.ppid, p.exe, p.argv, p.script_argv,
           p.program, p.exe_name, p.ts AS proc_ts, p.sandbox AS proc_sandbox, p.evidence_id AS proc_evidence_id,
           p.locator AS proc_locator, p.words, true AS same_sandbox
    FROM steps s JOIN procs p ON p.sandbox = s.sandbox
     AND p.ts BETWEEN s.ts - to_seconds(skew_s) AND greatest(s.window_end, s.ts) + to_seconds(skew_s)
    UNION ALL
    SELECT s.*, p.proc_id, p.parent_proc_id, p.host, p.pid, p.ppid, p.exe, p.argv, p.script_argv,
           p.program, p.exe_name, p.ts, p.sandbox, p.evidence_id, p.locator, p.words, true
    FROM steps s JOIN procs p ON p.cid12 = left(container_id_norm(s.container_id), 12)
     AND container_id_match(p.container_id, s.container_id) AND p.sandbox IS DISTINCT FROM s.sandbox
     AND p.ts BETWEEN s.ts - to_seconds(skew_s) AND greatest(s.window_end, s.ts) + to_seconds(skew_s)
    UNION ALL
    SELECT s.*, p.proc_id, p.parent_proc_id, p.host, p.pid, p.ppid, p.exe, p.argv, p.script_argv,
           p.program, p.exe_name, p.ts, p.sandbox, p.evidence_id, p.locator, p.words, false
    FROM steps s JOIN procs p ON p.host = s.host AND s.sandbox IS NULL AND s.container_id IS NULL
     AND p.ts BETWEEN s.ts - to_seconds(skew_s) AND greatest(s.window_end, s.ts) + to_seconds(skew_s)
), direct AS (
    SELECT *,
           CASE WHEN program IN ('bash', 'sh', 'dash', 'zsh', 'ash', 'ksh') AND len(argv) >= 3
                     AND regexp_full_match(argv[2], '-[a-z]*c[a-z]*') AND shell_words(argv[3]) = command_words
                    THEN 'shell -c'
                WHEN contains(text_words, words) THEN 'argv'
                WHEN script_argv IS NOT NULL AND contains(text_words, argv_words(script_argv)) THEN 'argv'
                WHEN contains(text_words, ' ' || program || ' ') OR contains(text_words, ' ' || exe_name || ' ')
                     OR (script_argv IS NOT NULL
                         AND contains(text_words, ' ' || regexp_extract(script_argv[1], '[^/]*$') || ' '))
                    THEN 'program'
           END AS basis
    FROM pairs
), matched AS (
    SELECT * FROM direct WHERE basis IN ('shell -c', 'argv')
), descendants(trajectory_id, step, call_index, locator, evidence_id, proc_id, depth) AS (
    SELECT trajectory_id, step, call_index, locator, evidence_id, proc_id, 0 FROM matched
    UNION ALL
    SELECT d.trajectory_id, d.step, d.call_index, d.locator, d.evidence_id, p.proc_id, d.depth + 1
    FROM descendants d JOIN procs p ON p.parent_proc_id = d.proc_id
    WHERE d.depth < 16
), inherited AS (
    SELECT p.*, 'descendant' AS basis
    FROM (SELECT DISTINCT trajectory_id, step, call_index, locator, evidence_id, proc_id FROM descendants
          WHERE depth > 0) d
    JOIN pairs p USING (trajectory_id, step, call_index, locator, evidence_id, proc_id)
), scored AS (
    SELECT *, CASE basis WHEN 'shell -c' THEN 0.97 WHEN 'argv' THEN 0.9 WHEN 'descendant' THEN 0.8
                         WHEN 'program' THEN 0.6 END * CASE WHEN same_sandbox THEN 1.0 ELSE 0.9 END AS confidence
    FROM (SELECT * FROM direct WHERE basis IS NOT NULL
          UNION ALL BY NAME
          SELECT * FROM inherited)
), best AS (
    SELECT *, row_number() OVER (PARTITION BY trajectory_id, step, call_index, locator, evidence_id, proc_id
                                 ORDER BY confidence DESC) AS n_in_pair
    FROM scored
)
SELECT run_id, trajectory_id, step, call_index, ts AS step_ts, left(command, 400) AS command,
       proc_id, proc_host AS host, pid, ppid, exe, argv, proc_ts,
       round(epoch(proc_ts) - epoch(ts), 3) AS delay_s, basis, round(confidence, 3) AS confidence,
       row_number() OVER (PARTITION BY proc_id ORDER BY confidence DESC, abs(epoch(proc_ts) - epoch(ts))) = 1
           AS best_for_process,
       coalesce(proc_sandbox, sandbox) AS sandbox, same_sandbox,
       evidence_id AS step_evidence_id, locator AS step_locator,
       proc_evidence_id, proc_locator
FROM best
WHERE n_in_pair = 1;

-- Launches in a sandbox that no agent step explains. Only sandboxes some transcript covers are
-- judged. Explained: matched to a step (confidence >= min_confidence), or below a matched launch.
-- Not judged: the sandbox's init and what it started within setup_s (its sshd, the session shell).
-- unexplained_root is the topmost unexplained launch of each unexplained tree.
CREATE OR REPLACE MACRO unexplained_processes(min_confidence := 0.6, setup_s := 5, window_s := 120, skew_s := 10) AS TABLE
WITH RECURSIVE tree AS MATERIALIZED (
    SELECT * FROM process_tree WHERE sandbox IS NOT NULL AND sandbox_root IS NOT NULL
), judged AS (
    SELECT DISTINCT coalesce(s.sandbox, t.sandbox) AS sandbox,
           list(DISTINCT s.trajectory_id) OVER (PARTITION BY coalesce(s.sandbox, t.sandbox)) AS trajectories
    FROM agent_steps s
    LEFT JOIN (SELECT value, any_value(sandbox) AS sandbox FROM entities WHERE kind = 'trajectory' GROUP BY value) t
        ON t.value = s.trajectory_id
    WHERE coalesce(s.sandbox, t.sandbox) IS NOT NULL
), cand AS (
    SELECT proc_id, max(confidence) AS confidence FROM step_process_candidates(window_s := window_s, skew_s := skew_s)
    GROUP BY proc_id
), base AS (
    SELECT t.*, j.trajectories, r.ts AS init_ts, coalesce(c.confidence, 0) AS step_confidence,
           t.sandbox_depth = 0 AS is_init,
           t.sandbox_depth > 0 AND t.ts <= r.ts + to_seconds(setup_s) AS is_setup,
           coalesce(c.confidence, 0) >= min_confidence AS is_matched
    FROM tree t
    JOIN (SELECT DISTINCT sandbox, trajectories FROM judged) j USING (sandbox)
    JOIN tree r ON r.proc_id = t.sandbox_root
    LEFT JOIN cand c ON c.proc_id = t.proc_id
), explained(proc_id, depth) AS (
    SELECT proc_id, 0 FROM base WHERE is_matched
    UNION ALL
    SELECT b.proc_id, e.depth + 1 FROM explained e JOIN base b ON b.parent_proc_id = e.proc_id
    WHERE e.depth < 32 AND NOT b.is_matched
), un AS (
    SELECT * FROM base
    WHERE NOT is_init AND NOT is_setup AND proc_id NOT IN (SELECT proc_id FROM explained)
), members(proc_id, unexplained_root, depth) AS (
    SELECT proc_id, proc_id, 0 FROM un
    WHERE parent_proc_id IS NULL OR parent_proc_id NOT IN (SELECT proc_id FROM un)
    UNION ALL
    SELECT u.proc_id, m.unexplained_root, m.depth + 1 FROM members m JOIN un u ON u.parent_proc_id = m.proc_id
    WHERE m.depth < 32
)
SELECT u.* EXCLUDE (is_init, is_setup, is_matched), m.unexplained_root, m.depth AS depth_in_tree
FROM un u JOIN members m USING (proc_id);
