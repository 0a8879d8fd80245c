-- title: Packet-capture tables: SSH sessions, DNS, TLS, HTTP and JSON-RPC/stratum messages
-- description: Filled from pcap/pcapng files (connections themselves go to flows). Column names
--   follow Zeek's ssh.log, dns.log, ssl.log and http.log where Zeek has the field; uid joins
--   every row to its connection in flows. Times are UTC.

CREATE TABLE IF NOT EXISTS ssh_sessions (
    ts TIMESTAMPTZ,                 -- first packet of the connection
    uid VARCHAR,                    -- the connection in flows
    host VARCHAR,                   -- the cluster host the capture belongs to
    orig_h VARCHAR,                 -- TCP originator (sent the SYN)
    orig_p INTEGER,
    resp_h VARCHAR,
    resp_p INTEGER,
    version INTEGER,                -- SSH protocol major version (1 or 2)
    client VARCHAR,                 -- the SSH client's banner (SSH-2.0-OpenSSH_9.6 ...)
    server VARCHAR,                 -- the SSH server's banner
    ssh_client_side VARCHAR,        -- which TCP side is the SSH client: orig or resp
    role_basis VARCHAR,             -- how that was decided: kex (DH/ECDH init), banner, tcp
    role_inverted BOOLEAN,          -- the SSH client is the TCP responder (reverse shell pattern)
    hassh VARCHAR,                  -- md5 of the client's KEXINIT kex;enc;mac;comp lists
    hassh_algorithms VARCHAR,
    hassh_server VARCHAR,           -- md5 of the server's KEXINIT kex;enc;mac;comp lists
    hassh_server_algorithms VARCHAR,
    kex_alg VARCHAR,                -- negotiated (first client choice the server offers)
    host_key_alg VARCHAR,
    cipher_alg VARCHAR,
    mac_alg VARCHAR,
    compression_alg VARCHAR,
    newkeys_frame BIGINT,           -- the first NEWKEYS: after it everything is encrypted
    duration DOUBLE,                -- seconds
    client_pkts BIGINT,             -- packets sent by the SSH client side
    server_pkts BIGINT,
    client_bytes BIGINT,            -- TCP payload bytes sent by the SSH client side
    server_bytes BIGINT,
    echo_pairs_client_led BIGINT,   -- keystroke-echo pairs whose keystroke came from the client
    echo_pairs_server_led BIGINT,   -- ... from the server (someone typing at the far end: -R)
    bare_acks_client BIGINT,        -- empty ACKs sent by the client side
    bare_acks_server BIGINT,
    nested_kex BOOLEAN,             -- a second key exchange inside the encrypted session
    nested_kex_frame BIGINT,
    long_conn_hours INTEGER,        -- RITA long-connection bucket reached: 0, 1, 4, 8 or 12 hours
    tunnel_signals VARCHAR[],       -- the packet-level reverse-tunnel signals that fired
    tunnel_score DOUBLE,            -- 0..1 from those signals alone (detect/ssh_reverse_tunnel adds context)
    evidence_id INTEGER,
    locator VARCHAR                 -- frame:N of the first SSH banner
);

CREATE TABLE IF NOT EXISTS dns (
    ts TIMESTAMPTZ,                 -- the query (or the response when no query was seen)
    uid VARCHAR,
    host VARCHAR,
    orig_h VARCHAR,
    orig_p INTEGER,
    resp_h VARCHAR,
    resp_p INTEGER,
    proto VARCHAR,
    trans_id INTEGER,
    rtt DOUBLE,                     -- seconds from query to response
    query VARCHAR,
    qclass INTEGER,
    qtype INTEGER,
    qtype_name VARCHAR,
    rcode INTEGER,
    rcode_name VARCHAR,
    aa BOOLEAN,
    tc BOOLEAN,
    rd BOOLEAN,
    ra BOOLEAN,
    answers VARCHAR[],              -- answer section values in order (A, AAAA, CNAME, PTR, NS, MX, TXT)
    ttls DOUBLE[],
    evidence_id INTEGER,
    locator VARCHAR                 -- frame:N of the query (or response)
);

CREATE TABLE IF NOT EXISTS tls (
    ts TIMESTAMPTZ,                 -- the ClientHello (or ServerHello)
    uid VARCHAR,
    host VARCHAR,
    orig_h VARCHAR,
    orig_p INTEGER,
    resp_h VARCHAR,
    resp_p INTEGER,
    version VARCHAR,                -- TLSv1.2, TLSv1.3 ... as the ServerHello chose
    server_name VARCHAR,            -- SNI
    ja3 VARCHAR,
    ja3s VARCHAR,
    evidence_id INTEGER,
    locator VARCHAR
);

CREATE TABLE IF NOT EXISTS http (
    ts TIMESTAMPTZ,                 -- the request
    uid VARCHAR,
    host VARCHAR,                   -- the cluster host (the Host header is host_header)
    orig_h VARCHAR,
    orig_p INTEGER,
    resp_h VARCHAR,
    resp_p INTEGER,
    trans_depth INTEGER,            -- 1 for the first request on the connection
    method VARCHAR,
    host_header VARCHAR,
    uri VARCHAR,
    user_agent VARCHAR,
    status_code INTEGER,
    evidence_id INTEGER,
    locator VARCHAR
);

CREATE TABLE IF NOT EXISTS jsonrpc_msgs (
    ts TIMESTAMPTZ,                 -- the packet holding the message's first byte
    uid VARCHAR,
    host VARCHAR,
    orig_h VARCHAR,
    orig_p INTEGER,
    resp_h VARCHAR,
    resp_p INTEGER,
    transport VARCHAR,              -- tcp (newline-delimited stream) or http (request/response body)
    direction VARCHAR,              -- orig (sent by the TCP originator) or resp
    msg_index INTEGER,              -- order of the message within its direction
    msg_kind VARCHAR,               -- request, notification or response
    id VARCHAR,                     -- JSON-RPC id as text (matches requests to responses)
    method VARCHAR,
    login VARCHAR,                  -- login / mining.authorize user / eth_submitLogin as sent
    wallet VARCHAR,                 -- the login without its worker suffix
    worker VARCHAR,
    agent VARCHAR,                  -- miner software (XMRig/6.21.0, EWBF 0.3.4b, equihashminer ...)
    algo VARCHAR,                   -- algorithm(s) announced by the client or the pool
    job_id VARCHAR,
    result JSON,
    status VARCHAR,                 -- result.status (XMRig: OK, KEEPALIVED)
    error JSON,
    error_code INTEGER,
    error_message VARCHAR,
    params JSON,
    evidence_id INTEGER,
    locator VARCHAR                 -- frame:N
);
