-- title: Agent trajectory tables
-- description: agent_steps holds one agent action (a tool call, a command the sandbox ran, or a
--   final message) per row in one canonical shape for every transcript format; agent_actions holds
--   the categorised indicators extracted from the commands (re-runnable with `forensics agent
--   analyse`); agent_scripts holds files the agent wrote (heredocs, echo >, editor tools) so that a
--   later run of them is analysed too.

CREATE TABLE IF NOT EXISTS agent_steps (
    source_format VARCHAR,    -- the parser: openai_chat, swe_agent, rock_command_log, ...
    run_id VARCHAR,           -- training run / experiment / eval task
    trajectory_id VARCHAR,
    step INTEGER,             -- 1-based turn of the agent within the trajectory
    call_index INTEGER,       -- 0-based index of the tool call within the turn
    tool_call_id VARCHAR,
    ts TIMESTAMPTZ,           -- UTC start of the step (see ts_basis)
    ts_end TIMESTAMPTZ,       -- UTC time the result came back, when known
    ts_raw VARCHAR,           -- the stamp as written
    ts_basis VARCHAR,         -- absolute | derived | local_assumed | unknown
    tz_assumed VARCHAR,       -- the zone applied to a naive stamp
    sandbox VARCHAR,
    sandbox_ip VARCHAR,
    container_id VARCHAR,
    host VARCHAR,
    role VARCHAR,             -- assistant (model-claimed action) or sandbox (what the sandbox ran)
    action VARCHAR,           -- exec, write, edit, read, tool, message, submit
    tool VARCHAR,             -- the original tool name (bash, run_shell_command, Bash, run, execute_bash ...)
    command VARCHAR,          -- for exec: the shell text that ran
    arguments VARCHAR,        -- the original arguments as JSON (bounded)
    file_path VARCHAR,        -- for write/edit/read: the file
    file_content VARCHAR,     -- for write: the content written (bounded to 64 KiB)
    output_excerpt VARCHAR,   -- the first 1 KiB of the result
    output_sha256 VARCHAR,    -- hash of the full result text
    output_bytes BIGINT,
    exit_code INTEGER,
    reward DOUBLE,            -- the trajectory's reward, when the transcript has one
    global_step INTEGER,      -- RL training step
    model VARCHAR,
    evidence_id INTEGER,
    locator VARCHAR           -- traj:ID step:N[.K] (line:N when the file has lines)
);

CREATE TABLE IF NOT EXISTS agent_actions (
    run_id VARCHAR,
    trajectory_id VARCHAR,
    step INTEGER,
    call_index INTEGER,
    ts TIMESTAMPTZ,
    ts_basis VARCHAR,
    host VARCHAR,
    sandbox VARCHAR,
    sandbox_ip VARCHAR,
    category VARCHAR,         -- tunnel, scan, mining, download_exec, persistence, recon,
                              -- credential_access, defense_evasion, exfil
    technique VARCHAR,        -- ssh_reverse_forward, dev_tcp_probe, pool_url, miner_binary, ...
    attack_id VARCHAR,        -- MITRE ATT&CK technique
    indicator_kind VARCHAR,   -- ip, host, port, url, wallet, binary, path, ip_range, cidr, forward, flag
    indicator_value VARCHAR,  -- normalised (lower-case host names, bare addresses)
    ip VARCHAR,               -- typed join columns: the address (first of a range) ...
    ip_end VARCHAR,           -- ... the last address of a range or CIDR block
    hostname VARCHAR,
    port INTEGER,
    detail VARCHAR,           -- coin=monero, forwarded port, gpu devices ...
    basis VARCHAR,            -- parsed, bash -c, ssh, base64, python -c, +loop, regex, script:PATH
    confidence DOUBLE,
    subcommand VARCHAR,       -- the simple command the indicator came from (bounded)
    source_step INTEGER,      -- for script:… rows, the step that wrote the script
    analyser_version VARCHAR,
    evidence_id INTEGER,
    locator VARCHAR           -- the step's locator
);

CREATE TABLE IF NOT EXISTS agent_scripts (
    run_id VARCHAR,
    trajectory_id VARCHAR,
    step INTEGER,
    call_index INTEGER,
    path VARCHAR,
    how VARCHAR,              -- heredoc, echo, editor
    content VARCHAR,          -- bounded to 64 KiB
    content_sha256 VARCHAR,
    evidence_id INTEGER,
    locator VARCHAR
);

-- A transcript stamp as UTC: epoch seconds (or ms/us), ISO 8601 with a zone, or a naive stamp
-- read in the zone given (the evidence's time-zone hint, UTC when there is none).
CREATE OR REPLACE MACRO agent_ts(raw, tz) AS (
    CASE
        WHEN raw IS NULL OR raw = '' THEN NULL
        -- the common case first, without a regular expression: ISO 8601 in UTC
        WHEN ends_with(raw, 'Z') THEN TRY_CAST(raw AS TIMESTAMPTZ)
        WHEN regexp_full_match(raw, '\d{9,10}(\.\d+)?') THEN to_timestamp(TRY_CAST(raw AS DOUBLE))
        WHEN regexp_full_match(raw, '\d{12,13}(\.\d+)?') THEN to_timestamp(TRY_CAST(raw AS DOUBLE) / 1000)
        WHEN regexp_full_match(raw, '\d{15,16}') THEN to_timestamp(TRY_CAST(raw AS DOUBLE) / 1000000)
        WHEN regexp_matches(raw, '(Z|z|[+-]\d\d:?\d\d)$') THEN TRY_CAST(raw AS TIMESTAMPTZ)
        ELSE timezone(coalesce(tz, 'UTC'), TRY_CAST(raw AS TIMESTAMP))
    END
);

CREATE OR REPLACE MACRO agent_ts_basis(raw) AS (
    CASE
        WHEN raw IS NULL OR raw = '' THEN 'unknown'
        WHEN ends_with(raw, 'Z') THEN 'absolute'
        WHEN regexp_full_match(raw, '\d{9,16}(\.\d+)?') THEN 'absolute'
        WHEN regexp_matches(raw, '(Z|z|[+-]\d\d:?\d\d)$') THEN 'absolute'
        WHEN TRY_CAST(raw AS TIMESTAMP) IS NOT NULL THEN 'local_assumed'
        ELSE 'unknown'
    END
);
