"""Ingest one packet capture: tshark -> DuckDB staging -> flows, SSH, DNS, TLS, HTTP, JSON-RPC.

The work is pipelined: producer threads run tshark on the editcap chunks of a big capture (two
chunks at once on a multi-core machine) and cut its output into segment files; the loader reduces
each segment in DuckDB, in chunk order, while tshark writes the next.
After the last segment, connections are stitched, SSH and JSON-RPC streams reassembled and read,
and the normalised tables written. Staging tables are temporary and dropped at the end.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Iterator

import duckdb
import pyarrow as pa

from forensics.context import ParseContext, sql_string

from . import staging
from .jsonrpc import frame_messages, message_fields, unescape_tshark
from forensics.membudget import budget as memory_budget

from .salvage import salvage
from .ssh import read_sides, session_row
from .streams import reassemble
from .tshark import (DEFAULT_CHUNK_PACKETS, DEFAULT_SPLIT_BYTES, Chunk, clean_stderr, find_tools,
                     split_capture, tshark_command)

KEEP_SSH_BYTES = 8 * 1024  # per side: banner plus clear-text key exchange (2-6 KB in practice)
STREAM_BATCH_BYTES = 32 << 20  # payload reassembled per batch of connections
MAX_LINE = 64 << 20  # one TSV line (a frame) may carry a large reassembled HTTP body
MAX_SALVAGES = 20  # damaged places a capture may have before we stop reading on
SEGMENT_BYTES = 32 << 20  # tshark output is loaded in pieces of this size while tshark goes on
POLL_S = 0.05  # how often a growing tshark output file is looked at
DEFAULT_MEMORY_LIMIT = "512MB"


def default_jobs() -> int:
    """tshark runs at once: two where the machine has two cores or more for this process."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return 2 if cores >= 2 else 1


def _int_option(ctx: ParseContext, name: str, default: int) -> int:
    value = ctx.options.get(name)
    if value is None or value == "":
        return default
    try:
        return int(float(value))
    except ValueError:
        ctx.warn(None, f"option {name}={value!r} is not a number; using {default}")
        return default


class CaptureIngest:
    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.con = ctx.con
        self.tools = find_tools()
        self.p = f"_pcap_{uuid.uuid4().hex[:10]}"
        self.scratch = Path(str(ctx.scratch_path("-pcap")))
        self.n_chunks = 0  # tshark runs (editcap chunks, salvaged remainders)
        self.n_segments = 0  # pieces of tshark output loaded (the "chunk" of the staging tables)
        self._procs: list[subprocess.Popen] = []
        self._stop = threading.Event()
        self.segment_bytes = _int_option(ctx, "pcap_segment_bytes", SEGMENT_BYTES)
        self.jobs = max(1, _int_option(ctx, "pcap_tshark_jobs", default_jobs()))
        self.frames_read = 0
        self.last_frame = 0  # the highest frame number loaded so far
        self.damaged = False
        rows = self.con.execute("SELECT sha256 FROM evidence WHERE evidence_id = ?", [ctx.evidence_id]).fetchall()
        row = rows[0] if rows else None
        self.evidence_key = (row[0] if row and row[0] else f"{ctx.evidence_id}")[:32]
        self.host = ctx.hints.host

    # ------------------------------------------------------------------ the run
    def run(self) -> None:
        self.scratch.mkdir(parents=True, exist_ok=True)
        # DuckDB's default memory limit is most of the machine; next to tshark (which grows with
        # the packets of a chunk) the staging work keeps to a budget and spills beyond it.
        with memory_budget(self.ctx, "pcap_memory_limit", DEFAULT_MEMORY_LIMIT):
            try:
                for sql in staging.create_sql(self.p):
                    self.con.execute(sql)
                self._pipeline(self._chunks(self.ctx.local_path))
                self._read_past_damage()
                self._finish()
            finally:
                self._clean_up()

    def _clean_up(self) -> None:
        for sql in staging.drop_sql(self.p, max(self.n_segments + 1, 1)):
            try:
                self.con.execute(sql)
            except Exception:
                pass
        for name in ("merged", "oriented", "streams_ssh", "streams_json", "feat", "sbatch"):
            try:
                self.con.execute(f"DROP TABLE IF EXISTS {self.p}_{name}")
            except Exception:
                pass
        shutil.rmtree(self.scratch, ignore_errors=True)

    def _chunks(self, path: Path, temporary: bool = False) -> list[Chunk]:
        """The capture as chunks numbered on from those already read (a salvaged remainder
        continues the numbering of chunks and frames)."""
        split_bytes = _int_option(self.ctx, "pcap_split_bytes", DEFAULT_SPLIT_BYTES)
        # tshark's memory grows with a chunk's packets: with several chunks dissected at once,
        # each is smaller, so the packets in flight (and the memory) stay the same
        chunk_packets = max(1, _int_option(self.ctx, "pcap_chunk_packets", DEFAULT_CHUNK_PACKETS // self.jobs))
        index, frames = self.n_chunks, self.last_frame
        if path.stat().st_size <= split_bytes:
            chunks = [Chunk(path, index, frames, temporary)]
        else:
            parts, problems = split_capture(self.tools, path, chunk_packets, self.scratch / f"chunks{index}")
            if problems:
                self.damaged = True
                self.ctx.warn(f"frame:{frames + 1}", "editcap: " + " ".join(problems))
            chunks = [Chunk(c.path, index + c.index, frames + c.frame_offset, c.temporary) for c in parts]
        self.n_chunks += len(chunks)
        return chunks

    def _read_past_damage(self) -> None:
        """tshark stops at a damaged record; read on from the next valid one."""
        source = self.ctx.local_path
        for attempt in range(MAX_SALVAGES):
            if not self.damaged:
                return
            self.damaged = False
            found = salvage(source, self.scratch / f"salvaged{attempt}{source.suffix or '.pcap'}")
            if found is None:
                return
            self.ctx.warn(f"frame:{self.last_frame + 1}",
                          f"damaged capture: bytes {found.damaged_at}-{found.resumed_at - 1} skipped, reading resumed "
                          f"at byte offset {found.resumed_at}; frames from there on are numbered from "
                          f"{self.last_frame + 1} (frames inside the damaged bytes are not counted)")
            self._pipeline(self._chunks(found.path, temporary=True))
            source = found.path

    def _run_tshark(self, chunk: Chunk, events: queue.Queue) -> None:
        """Run tshark on one chunk, writing straight to a file, and cut that file into segments of
        about SEGMENT_BYTES at line ends while it grows, handing each to the loader (through the
        chunk's own queue) once complete. (Reading tshark's output through a pipe cost about
        0.8 s of CPU per 150,000 frames in wake-ups and copies; the kernel copies the segments
        out of the file for next to nothing.)"""
        err = self.scratch / f"run{chunk.index}.err"
        whole = self.scratch / f"run{chunk.index}.tsv"
        with open(err, "wb") as errf, open(whole, "wb") as outf:
            proc = subprocess.Popen(tshark_command(self.tools, chunk.path), stdout=outf,
                                    stderr=errf, stdin=subprocess.DEVNULL)
        self._procs.append(proc)
        count, done = 0, 0  # segments handed over; bytes of the file they cover
        try:
            with open(whole, "rb") as src:
                while not self._stop.is_set():
                    finished = proc.poll() is not None
                    size = os.fstat(src.fileno()).st_size
                    if finished:
                        cut = size
                    elif size - done >= self.segment_bytes:
                        cut = _last_line_end(src, done, size)
                    else:
                        cut = None
                    if cut is not None and cut > done:
                        count += 1
                        segment = self.scratch / f"segment{chunk.index}_{count}.tsv"
                        _copy_range(src, segment, done, cut)
                        done = cut
                        events.put(("segment", chunk, segment))
                    if finished:
                        break
                    if cut is None or cut <= done:
                        self._stop.wait(POLL_S)
        finally:
            _unlink(whole)
        proc.wait()
        events.put(("end", chunk, proc.returncode, err))

    def _produce(self, chunks: list[Chunk], queues: list[queue.Queue], slots: threading.Semaphore,
                 order: queue.SimpleQueue) -> None:
        """A producer thread: takes the next chunk not yet taken (in order), once a slot is free,
        and runs tshark on it. The loader frees a slot when it has loaded a chunk, so at most
        ``jobs`` chunks are in flight (running, or written and waiting to be loaded)."""
        while not self._stop.is_set():
            if not slots.acquire(timeout=0.2):
                continue
            try:
                index = order.get_nowait()
            except queue.Empty:
                index = None
            if index is None or self._stop.is_set():
                slots.release()
                return
            try:
                self._run_tshark(chunks[index], queues[index])
            except BaseException as exc:  # handed to the loader, which raises it
                queues[index].put(("error", exc))
                return

    def _pipeline(self, chunks: list[Chunk]) -> None:
        """tshark (in producer threads) and DuckDB (here) work at the same time: while one segment
        of tshark's output is reduced, tshark writes the next. With ``pcap_tshark_jobs`` above one,
        that many chunks are dissected at once (tshark is single-threaded and most of the work);
        the loader still takes their segments strictly in chunk order."""
        jobs = max(1, min(self.jobs, len(chunks)))
        queues: list[queue.Queue] = [queue.Queue() for _ in chunks]
        # (one more chunk in flight was measured: the tsharks then compete with the loader for the
        # two cores and the whole run is slower)
        slots, order = threading.Semaphore(jobs), queue.SimpleQueue()
        for index in range(len(chunks)):
            order.put(index)
        self._stop.clear()
        with self._loader_threads(1):
            self._run_pipeline(chunks, jobs, queues, slots, order)

    @contextlib.contextmanager
    def _loader_threads(self, threads: int) -> Iterator[None]:
        """DuckDB threads while segments are loaded. A segment is small (32 MB of TSV, about 25,000
        frames) and tshark needs the other cores: measured on one, a second DuckDB thread cost a
        quarter more CPU for a tenth less wall time, time the tshark beside it loses."""
        previous = self.con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        lower = int(previous) > threads
        if lower:
            self.con.execute(f"SET threads = {threads}")
        try:
            yield
        finally:
            if lower:
                try:
                    self.con.execute(f"SET threads = {int(previous)}")
                except duckdb.Error:  # an aborted transaction refuses it; the error that aborted it matters
                    pass

    def _run_pipeline(self, chunks: list[Chunk], jobs: int, queues: list[queue.Queue],
                      slots: threading.Semaphore, order: queue.SimpleQueue) -> None:
        producers = [threading.Thread(target=self._produce, args=(chunks, queues, slots, order),
                                      name=f"tshark-{i}", daemon=True) for i in range(jobs)]
        for producer in producers:
            producer.start()
        try:
            for events in queues:
                while True:
                    event = events.get()
                    if event[0] == "error":
                        raise event[1]
                    if event[0] == "segment":
                        _, chunk, segment = event
                        self.n_segments += 1
                        try:
                            self._load_segment(self.n_segments, chunk, segment)
                        finally:
                            _unlink(segment)
                        self.ctx.advance(0)
                    elif event[0] == "end":
                        _, chunk, returncode, err = event
                        self._run_ended(chunk, returncode, err.read_text(errors="replace"))
                        _unlink(err)
                        if chunk.temporary:
                            _unlink(chunk.path)
                        slots.release()
                        break
        finally:
            self._stop.set()
            for proc in list(self._procs):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for producer in producers:
                producer.join()
            self._procs.clear()
            # segments the loader never reached (after an error)
            for events in queues:
                while not events.empty():
                    event = events.get_nowait()
                    if event[0] == "segment":
                        _unlink(event[2])

    # ------------------------------------------------------------------ one chunk
    def _run_ended(self, chunk: Chunk, returncode: int | None, stderr: str) -> None:
        """tshark finished a chunk: its complaints become warnings at the frame after the last
        one it wrote."""
        complaint = " ".join(clean_stderr(stderr))
        if complaint:
            # e.g. "appears to have been cut short in the middle of a packet", "appears to be
            # damaged or corrupt. (pcapng: ...)", "network type 65000 unknown or unsupported"
            self.ctx.warn(f"frame:{self.last_frame + 1}", f"tshark: {complaint}")
            if "damaged or corrupt" in complaint or "cut short" in complaint:
                # a record whose length runs past the end can be a damaged length mid-file too
                self.damaged = True
        elif returncode not in (0, None):
            self.ctx.warn(f"frame:{self.last_frame + 1}", f"tshark exited with status {returncode}")

    def _load_segment(self, index: int, chunk: Chunk, tsv: Path) -> None:
        p, con = self.p, self.con
        con.execute(staging.load_sql(p, sql_string(tsv), index, chunk.frame_offset, MAX_LINE))
        frames, last = con.execute(f"SELECT count(*), max(TRY_CAST(frame AS BIGINT)) FROM {p}_raw").fetchall()[0]
        self.frames_read += frames
        self.last_frame = max(self.last_frame, chunk.frame_offset + (last or 0))
        chunk = Chunk(chunk.path, index, chunk.frame_offset, chunk.temporary)
        self.ctx.warn_many(f"""
            SELECT 'frame:' || (TRY_CAST(split_part(csv_line, chr(9), 1) AS BIGINT) + {chunk.frame_offset}) AS locator,
                   'tshark output for this frame could not be loaded: ' || error_type AS reason,
                   left(csv_line, 200) AS excerpt
            FROM {p}_rej{chunk.index}""")
        self.ctx.warn_many(f"""
            SELECT 'frame:' || (TRY_CAST(frame AS BIGINT) + {chunk.frame_offset}) AS locator,
                   'tshark marks the frame malformed' AS reason, protocols AS excerpt
            FROM {p}_raw WHERE contains(protocols, '_ws.malformed')""")
        self.ctx.warn_many(f"""
            SELECT 'frame:' || (TRY_CAST(frame AS BIGINT) + {chunk.frame_offset}) AS locator,
                   'link layer tshark cannot decode; frame skipped' AS reason, protocols AS excerpt
            FROM {p}_raw WHERE protocols IS NULL OR protocols IN ('frame', 'frame:data')
               OR contains(protocols, 'wtap_encap') OR contains(protocols, 'user_dlt')""")
        con.execute(staging.packets_sql(p, chunk.frame_offset))
        con.execute(staging.sides_sql(p))
        con.execute(staging.parts_sql(p, chunk.index))
        con.execute(staging.stream_packets_sql(p, chunk.index, KEEP_SSH_BYTES, chunk.frame_offset))
        con.execute(staging.carry_sql(p, chunk.index))
        for sql in staging.app_messages_sql(p, chunk.index, chunk.frame_offset):
            con.execute(sql)
        for name in ("raw", "pk", "ps", f"rej{chunk.index}", f"rejscan{chunk.index}"):
            con.execute(f"DROP TABLE IF EXISTS {p}_{name}")

    # ------------------------------------------------------------------ after the last chunk
    def _finish(self) -> None:
        p, con = self.p, self.con
        for sql in staging.stitch_sql(p, self.evidence_key):
            con.execute(sql)
        ssh_rows, json_rows = self._read_streams()
        self._register("streams_ssh", ssh_rows, _SSH_SCHEMA)
        self._register("streams_json", json_rows + self._http_json(), _JSON_SCHEMA)
        self._insert_flows()
        self._insert_ssh()
        self._insert_dns()
        self._insert_tls()
        self._insert_http()
        self._insert_jsonrpc()

    def _register(self, name: str, rows: list[dict], schema: pa.Schema) -> None:
        view = f"{self.p}_{name}_arrow"
        self.con.register(view, pa.Table.from_pylist(rows, schema=schema))
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {self.p}_{name} AS SELECT * FROM {view}")
        finally:
            self.con.unregister(view)

    def _read_streams(self) -> tuple[list[dict], list[dict]]:
        """Reassemble every candidate stream and read SSH or JSON-RPC, a batch of connections at a
        time (about STREAM_BATCH_BYTES of payload each), so no step sorts every stream at once."""
        p, con = self.p, self.con
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {p}_sbatch AS
            WITH per_uid AS (
                SELECT m.uid, sum(octet_length(s.payload)) AS bytes
                FROM {p}_spk s JOIN {p}_map m ON m.chunk = s.chunk AND m.part = s.part
                WHERE s.payload IS NOT NULL GROUP BY m.uid
            )
            SELECT uid, (sum(bytes) OVER (ORDER BY uid ROWS UNBOUNDED PRECEDING) // {STREAM_BATCH_BYTES})::BIGINT
                       AS batch
            FROM per_uid""")
        batches = [row[0] for row in con.execute(f"SELECT DISTINCT batch FROM {p}_sbatch ORDER BY batch").fetchall()]
        ssh_rows: list[dict] = []
        json_rows: list[dict] = []
        for batch in batches:
            table = con.execute(f"""
                SELECT m.uid, s.from_lo = o.orig_is_lo AS from_orig, s.frame, s.ts, s.seq, s.payload,
                       s.is_ssh, s.is_json
                FROM {p}_spk s JOIN {p}_map m ON m.chunk = s.chunk AND m.part = s.part
                     JOIN {p}_sbatch b ON b.uid = m.uid AND b.batch = ?
                     JOIN {p}_oriented o ON o.uid = m.uid
                WHERE s.payload IS NOT NULL
                ORDER BY m.uid, from_orig, s.frame""", [batch]).fetchall()
            current: str | None = None
            segments: dict[bool, list] = {True: [], False: []}
            kinds = {"ssh": False, "json": False}
            for uid, from_orig, frame, ts, seq, payload, is_ssh, is_json in table:
                if uid != current:
                    if current is not None:
                        self._stream(current, segments, kinds, ssh_rows, json_rows)
                    current = uid
                    segments = {True: [], False: []}
                    kinds = {"ssh": False, "json": False}
                kinds["ssh"] |= bool(is_ssh)
                kinds["json"] |= bool(is_json)
                segments[bool(from_orig)].append((int(seq or 0), payload, int(frame), float(ts or 0.0)))
            if current is not None:
                self._stream(current, segments, kinds, ssh_rows, json_rows)
        return ssh_rows, json_rows

    def _stream(self, uid: str, segments: dict[bool, list], kinds: dict[str, bool],
                ssh_rows: list[dict], json_rows: list[dict]) -> None:
        sides = {}
        for from_orig in (True, False):
            sides[from_orig] = reassemble(segments[from_orig])
        if kinds["ssh"]:
            orig_side, resp_side = read_sides(sides[True].runs, sides[False].runs)
            for side in (orig_side, resp_side):
                for frame, reason, excerpt in side.problems:
                    self.ctx.warn(f"frame:{frame}", reason, excerpt)
            row = session_row(orig_side, resp_side)
            if row is not None:
                row["uid"] = uid
                ssh_rows.append(row)
                return
        if kinds["json"]:
            for from_orig in (True, False):
                direction = "orig" if from_orig else "resp"
                index = 0
                reassembled = sides[from_orig]
                for run in reassembled.runs:
                    messages, problems, _skipped = frame_messages(run)
                    for problem in problems:
                        self.ctx.warn(f"frame:{problem.frame}", problem.reason, problem.excerpt)
                    for message in messages:
                        for fields in message_fields(message.value):
                            index += 1
                            json_rows.append({**fields, "uid": uid, "transport": "tcp", "direction": direction,
                                              "msg_index": index, "frame": message.frame, "ts": message.ts})
                if index and reassembled.gaps:
                    frame, missing = reassembled.gaps[0]
                    self.ctx.warn(f"frame:{frame}", f"{len(reassembled.gaps)} gap(s) in the {direction} byte stream "
                                  f"({sum(m for _, m in reassembled.gaps)} bytes never captured); "
                                  "JSON-RPC framing resumed after each")

    def _http_json(self) -> list[dict]:
        """JSON-RPC carried in HTTP bodies (getwork, eth_getWork over HTTP POST)."""
        p = self.p
        rows = self.con.execute(f"""
            SELECT m.uid, h.from_lo = o.orig_is_lo AS from_orig, h.frame, h.ts, h.body
            FROM {p}_http h JOIN {p}_map m ON m.chunk = h.chunk AND m.part = h.part
                 JOIN {p}_oriented o ON o.uid = m.uid
            WHERE h.body IS NOT NULL ORDER BY m.uid, h.frame""").fetchall()
        out: list[dict] = []
        counters: dict[tuple[str, bool], int] = {}
        import json

        for uid, from_orig, frame, ts, body in rows:
            text = unescape_tshark(body).strip()
            try:
                value = json.loads(text)
            except ValueError as exc:
                if '"method"' in text or '"result"' in text:
                    self.ctx.warn(f"frame:{frame}", f"HTTP body is not valid JSON ({exc})", text[:160])
                continue
            for fields in message_fields(value):
                key = (uid, bool(from_orig))
                counters[key] = counters.get(key, 0) + 1
                out.append({**fields, "uid": uid, "transport": "http",
                            "direction": "orig" if from_orig else "resp", "msg_index": counters[key],
                            "frame": frame, "ts": ts})
        return out

    # ------------------------------------------------------------------ inserts
    def _host_sql(self) -> str:
        return "NULL::VARCHAR" if self.host is None else sql_string(self.host)

    def _insert_flows(self) -> None:
        p = self.p
        self.ctx.insert("flows", f"""
            SELECT to_timestamp(c.first_ts) AS ts, c.uid, c.o_h AS orig_h, c.o_p AS orig_p,
                   c.r_h AS resp_h, c.r_p AS resp_p,
                   CASE WHEN c.proto = 'icmpv6' THEN 'icmp' ELSE c.proto END AS proto,
                   coalesce(CASE WHEN s.uid IS NOT NULL THEN 'ssh' END,
                            CASE WHEN j.uid IS NOT NULL THEN 'jsonrpc' END,
                            CASE WHEN t.uid IS NOT NULL THEN 'ssl' END,
                            CASE WHEN c.app NOT IN ('tls', 'ssl') THEN {staging.service_case('c.app')} END) AS service,
                   CASE WHEN c.last_ts > c.first_ts THEN c.last_ts - c.first_ts END AS duration,
                   CASE WHEN c.last_ts > c.first_ts THEN c.o_bytes END AS orig_bytes,
                   CASE WHEN c.last_ts > c.first_ts THEN c.r_bytes END AS resp_bytes,
                   c.conn_state, c.missed_bytes, nullif(c.history, '') AS history,
                   c.o_pkts AS orig_pkts, c.o_ip_bytes AS orig_ip_bytes,
                   c.r_pkts AS resp_pkts, c.r_ip_bytes AS resp_ip_bytes,
                   {self._host_sql()} AS host, 'pcap' AS source_format,
                   'frame:' || c.first_frame AS locator
            FROM {p}_conn c
            LEFT JOIN (SELECT DISTINCT uid FROM {p}_streams_ssh) s ON s.uid = c.uid
            LEFT JOIN (SELECT DISTINCT uid FROM {p}_streams_json WHERE transport = 'tcp') j ON j.uid = c.uid
            LEFT JOIN (SELECT DISTINCT m.uid FROM {p}_tls x JOIN {p}_map m ON m.chunk = x.chunk AND m.part = x.part) t
                 ON t.uid = c.uid
            ORDER BY c.first_frame""")

    def _insert_ssh(self) -> None:
        from .features import ssh_features_sql

        p = self.p
        self.con.execute(ssh_features_sql(p))
        self.ctx.insert("ssh_sessions", f"""
            SELECT to_timestamp(c.first_ts) AS ts, s.uid, {self._host_sql()} AS host,
                   c.o_h AS orig_h, c.o_p AS orig_p, c.r_h AS resp_h, c.r_p AS resp_p,
                   s.version, s.client, s.server, s.ssh_client_side, s.role_basis, s.role_inverted,
                   s.hassh, s.hassh_algorithms, s.hassh_server, s.hassh_server_algorithms,
                   s.kex_alg, s.host_key_alg, s.cipher_alg, s.mac_alg, s.compression_alg, s.newkeys_frame,
                   CASE WHEN c.last_ts > c.first_ts THEN c.last_ts - c.first_ts END AS duration,
                   f.client_pkts, f.server_pkts, f.client_bytes, f.server_bytes,
                   f.echo_pairs_client_led, f.echo_pairs_server_led, f.bare_acks_client, f.bare_acks_server,
                   f.nested_kex, f.nested_kex_frame, f.long_conn_hours, f.tunnel_signals, f.tunnel_score,
                   'frame:' || coalesce(s.banner_frame, c.first_frame) AS locator
            FROM {p}_streams_ssh s JOIN {p}_conn c ON c.uid = s.uid
            LEFT JOIN {p}_feat f ON f.uid = s.uid
            ORDER BY c.first_frame""")

    def _insert_dns(self) -> None:
        p = self.p
        answers = """list_filter(list_transform(range(1, least(coalesce(n_answers, 0), len(rr_types)) + 1), lambda i:
                CASE rr_types[i]
                    WHEN '1' THEN v_a[len(list_filter(rr_types[1:i], lambda t: t = '1'))]
                    WHEN '28' THEN v_aaaa[len(list_filter(rr_types[1:i], lambda t: t = '28'))]
                    WHEN '5' THEN v_cname[len(list_filter(rr_types[1:i], lambda t: t = '5'))]
                    WHEN '12' THEN v_ptr[len(list_filter(rr_types[1:i], lambda t: t = '12'))]
                    WHEN '2' THEN v_ns[len(list_filter(rr_types[1:i], lambda t: t = '2'))]
                    WHEN '15' THEN v_mx[len(list_filter(rr_types[1:i], lambda t: t = '15'))]
                    WHEN '16' THEN v_txt[len(list_filter(rr_types[1:i], lambda t: t = '16'))]
                END), lambda x: x IS NOT NULL)"""
        ttls = """list_transform(range(1, least(coalesce(n_answers, 0), len(rr_ttls)) + 1),
                  lambda i: TRY_CAST(rr_ttls[i] AS DOUBLE))"""
        self.ctx.insert("dns", f"""
            WITH msgs AS (
                SELECT d.*, m.uid, d.from_lo = o.orig_is_lo AS from_orig,
                       row_number() OVER (PARTITION BY m.uid, d.trans_id, d.is_response ORDER BY d.frame) AS nth
                FROM {p}_dns d JOIN {p}_map m ON m.chunk = d.chunk AND m.part = d.part
                     JOIN {p}_oriented o ON o.uid = m.uid
            ), q AS (SELECT * FROM msgs WHERE NOT is_response),
               r AS (SELECT *, {answers} AS answers, {ttls} AS ttls FROM msgs WHERE is_response),
            paired AS (
                SELECT coalesce(q.uid, r.uid) AS uid, coalesce(q.trans_id, r.trans_id) AS trans_id,
                       coalesce(q.ts, r.ts) AS ts, coalesce(q.frame, r.frame) AS frame,
                       r.ts - q.ts AS rtt, coalesce(q.query, r.query) AS query,
                       coalesce(q.qclass, r.qclass) AS qclass, coalesce(q.qtype, r.qtype) AS qtype,
                       r.rcode, r.aa, r.tc, coalesce(q.rd, r.rd) AS rd, r.ra, r.answers, r.ttls
                FROM q FULL OUTER JOIN r ON q.uid = r.uid AND q.trans_id = r.trans_id AND q.nth = r.nth
            )
            SELECT to_timestamp(x.ts) AS ts, x.uid, {self._host_sql()} AS host,
                   c.o_h AS orig_h, c.o_p AS orig_p, c.r_h AS resp_h, c.r_p AS resp_p,
                   CASE WHEN c.proto = 'icmpv6' THEN 'icmp' ELSE c.proto END AS proto,
                   x.trans_id, x.rtt, x.query, x.qclass, x.qtype,
                   {_QTYPE_NAMES} AS qtype_name, x.rcode, {_RCODE_NAMES} AS rcode_name,
                   x.aa, x.tc, x.rd, x.ra, x.answers, x.ttls, 'frame:' || x.frame AS locator
            FROM paired x JOIN {p}_conn c ON c.uid = x.uid
            ORDER BY x.frame""")

    def _insert_tls(self) -> None:
        p = self.p
        self.ctx.insert("tls", f"""
            WITH t AS (
                SELECT m.uid, t.*, t.from_lo = o.orig_is_lo AS from_orig
                FROM {p}_tls t JOIN {p}_map m ON m.chunk = t.chunk AND m.part = t.part
                     JOIN {p}_oriented o ON o.uid = m.uid
            ), g AS (
                SELECT uid, min(frame) AS frame, min(ts) AS ts,
                       arg_min(server_name, frame) FILTER (WHERE server_name IS NOT NULL) AS server_name,
                       arg_min(ja3, frame) FILTER (WHERE ja3 IS NOT NULL) AS ja3,
                       arg_min(ja3s, frame) FILTER (WHERE ja3s IS NOT NULL) AS ja3s,
                       arg_min(coalesce(supported_version, handshake_version), frame)
                           FILTER (WHERE ja3s IS NOT NULL) AS server_version
                FROM t GROUP BY uid
            )
            SELECT to_timestamp(g.ts) AS ts, g.uid, {self._host_sql()} AS host,
                   c.o_h AS orig_h, c.o_p AS orig_p, c.r_h AS resp_h, c.r_p AS resp_p,
                   CASE g.server_version WHEN '0x0304' THEN 'TLSv13' WHEN '0x0303' THEN 'TLSv12'
                        WHEN '0x0302' THEN 'TLSv11' WHEN '0x0301' THEN 'TLSv10' WHEN '0x0300' THEN 'SSLv3'
                        ELSE g.server_version END AS version,
                   g.server_name, g.ja3, g.ja3s, 'frame:' || g.frame AS locator
            FROM g JOIN {p}_conn c ON c.uid = g.uid
            ORDER BY g.frame""")

    def _insert_http(self) -> None:
        p = self.p
        self.ctx.insert("http", f"""
            WITH h AS (
                SELECT m.uid, h.*, row_number() OVER (PARTITION BY m.uid, h.method IS NOT NULL ORDER BY h.frame) AS nth
                FROM {p}_http h JOIN {p}_map m ON m.chunk = h.chunk AND m.part = h.part
            ), req AS (SELECT * FROM h WHERE method IS NOT NULL),
               resp AS (SELECT * FROM h WHERE method IS NULL)
            SELECT to_timestamp(coalesce(req.ts, resp.ts)) AS ts, coalesce(req.uid, resp.uid) AS uid,
                   {self._host_sql()} AS host, c.o_h AS orig_h, c.o_p AS orig_p, c.r_h AS resp_h, c.r_p AS resp_p,
                   coalesce(req.nth, resp.nth)::INTEGER AS trans_depth, req.method, req.host_header, req.uri,
                   req.user_agent, resp.status_code, 'frame:' || coalesce(req.frame, resp.frame) AS locator
            FROM req FULL OUTER JOIN resp ON req.uid = resp.uid AND req.nth = resp.nth
            JOIN {p}_conn c ON c.uid = coalesce(req.uid, resp.uid)
            ORDER BY coalesce(req.frame, resp.frame)""")

    def _insert_jsonrpc(self) -> None:
        p = self.p
        self.ctx.insert("jsonrpc_msgs", f"""
            SELECT to_timestamp(j.ts) AS ts, j.uid, {self._host_sql()} AS host,
                   c.o_h AS orig_h, c.o_p AS orig_p, c.r_h AS resp_h, c.r_p AS resp_p,
                   j.transport, j.direction, j.msg_index, j.msg_kind, j.id, j.method, j.login, j.wallet,
                   j.worker, j.agent, j.algo, j.job_id, j.result::JSON AS result, j.status,
                   j.error::JSON AS error, j.error_code, j.error_message, j.params::JSON AS params,
                   'frame:' || j.frame AS locator
            FROM {p}_streams_json j JOIN {p}_conn c ON c.uid = j.uid
            ORDER BY j.frame, j.msg_index""")


_SSH_SCHEMA = pa.schema([
    ("uid", pa.string()), ("version", pa.int32()), ("client", pa.string()), ("server", pa.string()),
    ("ssh_client_side", pa.string()), ("role_basis", pa.string()), ("role_inverted", pa.bool_()),
    ("hassh", pa.string()), ("hassh_algorithms", pa.string()), ("hassh_server", pa.string()),
    ("hassh_server_algorithms", pa.string()), ("kex_alg", pa.string()), ("host_key_alg", pa.string()),
    ("cipher_alg", pa.string()), ("mac_alg", pa.string()), ("compression_alg", pa.string()),
    ("newkeys_frame", pa.int64()), ("banner_frame", pa.int64()),
])

_JSON_SCHEMA = pa.schema([
    ("uid", pa.string()), ("transport", pa.string()), ("direction", pa.string()), ("msg_index", pa.int32()),
    ("frame", pa.int64()), ("ts", pa.float64()), ("msg_kind", pa.string()), ("id", pa.string()),
    ("method", pa.string()), ("login", pa.string()), ("wallet", pa.string()), ("worker", pa.string()),
    ("agent", pa.string()), ("algo", pa.string()), ("job_id", pa.string()), ("result", pa.string()),
    ("status", pa.string()), ("error", pa.string()), ("error_code", pa.int32()),
    ("error_message", pa.string()), ("params", pa.string()),
])

_QTYPE_NAMES = ("CASE x.qtype WHEN 1 THEN 'A' WHEN 2 THEN 'NS' WHEN 5 THEN 'CNAME' WHEN 6 THEN 'SOA' "
                "WHEN 12 THEN 'PTR' WHEN 15 THEN 'MX' WHEN 16 THEN 'TXT' WHEN 28 THEN 'AAAA' WHEN 33 THEN 'SRV' "
                "WHEN 35 THEN 'NAPTR' WHEN 41 THEN 'OPT' WHEN 43 THEN 'DS' WHEN 44 THEN 'SSHFP' "
                "WHEN 46 THEN 'RRSIG' WHEN 47 THEN 'NSEC' WHEN 48 THEN 'DNSKEY' WHEN 52 THEN 'TLSA' "
                "WHEN 64 THEN 'SVCB' WHEN 65 THEN 'HTTPS' WHEN 99 THEN 'SPF' WHEN 251 THEN 'IXFR' "
                "WHEN 252 THEN 'AXFR' WHEN 255 THEN '*' WHEN 257 THEN 'CAA' "
                "ELSE CASE WHEN x.qtype IS NOT NULL THEN 'query-' || x.qtype END END")
_RCODE_NAMES = ("CASE x.rcode WHEN 0 THEN 'NOERROR' WHEN 1 THEN 'FORMERR' WHEN 2 THEN 'SERVFAIL' "
                "WHEN 3 THEN 'NXDOMAIN' WHEN 4 THEN 'NOTIMP' WHEN 5 THEN 'REFUSED' WHEN 6 THEN 'YXDOMAIN' "
                "WHEN 7 THEN 'YXRRSET' WHEN 8 THEN 'NXRRSET' WHEN 9 THEN 'NOTAUTH' WHEN 10 THEN 'NOTZONE' "
                "ELSE CASE WHEN x.rcode IS NOT NULL THEN 'rcode-' || x.rcode END END")


def _last_line_end(src, start: int, end: int) -> int | None:
    """The offset just after the last newline in ``src[start:end]``, read backwards in blocks
    (a line, a frame, may be megabytes long); None when there is none."""
    pos = end
    while pos > start:
        low = max(start, pos - (1 << 20))
        block = os.pread(src.fileno(), pos - low, low)
        at = block.rfind(b"\n")
        if at >= 0:
            return low + at + 1
        pos = low
    return None


def _copy_range(src, target: Path, start: int, end: int) -> None:
    """Bytes ``start``..``end`` of ``src`` into a new file ``target``, copied by the kernel."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        offset = start
        while offset < end:
            try:
                n = os.copy_file_range(src.fileno(), fd, end - offset, offset)
            except OSError:  # file systems without it: an ordinary copy
                n = os.write(fd, os.pread(src.fileno(), min(end - offset, 8 << 20), offset))
            if n <= 0:
                raise OSError(f"could not copy tshark output to {target}")
            offset += n
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def ingest_capture(ctx: ParseContext) -> None:
    CaptureIngest(ctx).run()

