-- title: Crypto-miner process launched
-- description: A launch (auditd, laurel, Tetragon) whose program is a known miner (xmrig, t-rex,
--   lolminer ...), whose arguments name a stratum pool URL, or that passes two or more miner flags
--   (--donate-level, --cuda-devices, --algo, --coin ...). Launches of one pid (nohup, then the miner
--   it exec'd) make one finding, with the pool address the process connected to, the wallet and the
--   GPU devices its arguments name. Severity is critical inside a sandbox.
-- attack: T1496
WITH p AS (
    SELECT *, lower(regexp_extract(coalesce(exe, ''), '[^/]*$')) AS exe_name,
           lower(regexp_extract(coalesce(argv[1], ''), '[^/]*$')) AS argv0_name,
           regexp_extract(cmdline, '(stratum2?\+(?:tcp|ssl|tls)://[^\s''"]+)', 1) AS pool_url,
           len(list_filter(argv, lambda a: split_part(lower(a), '=', 1) IN (
               '--donate-level', '--cuda', '--opencl', '--coin', '--algo', '--randomx-1gb-pages', '--nicehash',
               '--rig-id', '--cpu-max-threads-hint', '--cuda-devices', '--pool', '--wallet', '--no-cpu'))) AS n_flags
    FROM process_tree
    WHERE argv IS NOT NULL
), m AS (
    SELECT *,
           exe_name IN ('xmrig', 'xmr-stak', 'xmr-stak-rx', 'xmrig-cuda', 't-rex', 'trex', 'lolminer', 'gminer',
                        'nbminer', 'ethminer', 'nanominer', 'srbminer', 'srbminer-multi', 'cpuminer', 'cpuminer-opt',
                        'minerd', 'ccminer', 'phoenixminer', 'teamredminer', 'bzminer', 'cgminer', 'bfgminer',
                        'rigel', 'onezerominer', 'wildrig', 'wildrig-multi', 'kawpowminer', 'xmrminer', 'claymore')
           OR argv0_name IN ('xmrig', 't-rex', 'lolminer', 'gminer', 'nbminer', 'ethminer', 'nanominer', 'srbminer',
                             'cpuminer', 'minerd', 'ccminer', 'phoenixminer', 'teamredminer', 'bzminer', 'xmr-stak')
               AS miner_binary
    FROM p
), hits AS (
    SELECT * FROM m WHERE miner_binary OR pool_url <> '' OR n_flags >= 2
), g AS (
    SELECT host, pid, coalesce(sandbox_root, proc_id) AS tree_key,
           min(ts) AS ts_start, max(coalesce(ts_end, ts)) AS ts_end,
           arg_max(proc_id, ts) AS proc_id, arg_max(exe, ts) AS exe, arg_max(argv, ts) AS argv,
           arg_max(cmdline, ts) AS cmdline, any_value(sandbox) AS sandbox, any_value(container_id) AS container_id,
           max(nullif(pool_url, '')) AS pool_url, bool_or(miner_binary) AS miner_binary, max(n_flags) AS n_flags,
           max(regexp_extract(cmdline, '(?:^|\s)(?:-u|--user|--wallet|-w)[=\s]+([48][0-9AB][1-9A-HJ-NP-Za-km-z]{90,110})', 1))
               AS wallet,
           max(regexp_extract(cmdline, '--cuda-devices[=\s]+([0-9,]+)', 1)) AS cuda_devices,
           list({'tbl': 'processes', 'evidence_id': evidence_id, 'locator': locator} ORDER BY ts) AS refs,
           list(DISTINCT source_format) AS sources
    FROM hits GROUP BY host, pid, coalesce(sandbox_root, proc_id)
), pool AS (
    SELECT c.proc_id, arg_min(c.remote_ip, c.ts) AS dst_ip, arg_min(c.remote_port, c.ts) AS dst_port,
           arg_min({'tbl': 'process_sockets', 'evidence_id': c.evidence_id, 'locator': c.locator}, c.ts) AS ref,
           arg_min(c.result, c.ts) AS result
    FROM process_connections c
    WHERE c.remote_ip IS NOT NULL AND coalesce(c.remote_port, 0) <> 53 AND NOT ip_is_private(c.remote_ip)
      AND NOT ip_is_internal(c.remote_ip)
    GROUP BY c.proc_id
)
SELECT 'mining' AS kind,
       'Crypto-miner process launched' AS title,
       CASE WHEN g.sandbox IS NOT NULL THEN 'critical' ELSE 'high' END AS severity,
       CASE WHEN g.pool_url IS NOT NULL OR (g.miner_binary AND g.n_flags >= 1) THEN 0.95
            WHEN g.miner_binary THEN 0.8 ELSE 0.7 END AS confidence,
       g.ts_start, g.ts_end, g.host, NULL AS src_ip, pool.dst_ip,
       coalesce(pool.dst_port, TRY_CAST(regexp_extract(g.pool_url, ':(\d+)(?:/|$)', 1) AS INTEGER)) AS dst_port,
       g.host || ' pid ' || g.pid || coalesce(' (sandbox ' || g.sandbox || ')', '') || ': '
           || left(g.cmdline, 300)
           || coalesce('; connected to ' || pool.dst_ip || ':' || pool.dst_port, '') AS summary,
       ['T1496'] AS attack_ids,
       CASE WHEN pool.ref IS NULL THEN g.refs ELSE list_append(g.refs, pool.ref) END AS evidence_refs,
       json_object('pid', g.pid, 'exe', g.exe, 'argv', g.argv, 'sandbox', g.sandbox, 'container_id', g.container_id,
                   'pool_url', g.pool_url, 'wallet', nullif(g.wallet, ''), 'cuda_devices', nullif(g.cuda_devices, ''),
                   'miner_binary', g.miner_binary, 'miner_flags', g.n_flags, 'connect_result', pool.result,
                   'proc_id', g.proc_id, 'sources', g.sources) AS details
FROM g LEFT JOIN pool USING (proc_id)
