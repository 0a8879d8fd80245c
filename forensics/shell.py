"""Shell command understanding with a real parser (tree-sitter-bash).

What an agent typed is a shell program: pipelines, ``&&``/``;`` lists, subshells, ``$(...)``,
heredocs, quoting, loops, and payloads handed to another interpreter (``bash -c``, ``eval``,
``ssh host CMD``, ``python -c``, ``echo … | base64 -d | sh``). Regexes over the whole string get
these wrong, so this module parses the text with tree-sitter-bash (which recovers from errors
instead of raising) and walks the tree.

The public API is small and stable, for the agent-trajectory analysis and for host-audit code that
wants to normalise an argv the same way:

``parse_command(text) -> list[SimpleCommand]``
    every simple command in the text, in order, with its argv (variables substituted when their
    value is known from an earlier assignment or loop), the wrappers stripped from it (``nohup``,
    ``sudo``, ``timeout 5`` …), redirects, heredoc body, background flag, pipeline position and
    how it was reached (``top``, ``bash -c``, ``ssh``, ``eval``, ``base64``, ``python -c`` …).
    Nested payloads are re-parsed and appear as further commands.

``normalise_argv(argv) -> list[str]``
    the same argv with wrappers removed (``nohup setsid ./x -a`` → ``['./x', '-a']``).

``indicators(text) -> list[Indicator]``
    categorised indicators (tunnel, scan, mining, download_exec, persistence, recon,
    credential_access, defense_evasion, exfil) with ATT&CK ids and normalised values
    (ip, host, port, url, wallet, binary, path, ip_range, cidr, forward), each with its basis.

``analyse(text) -> Analysis``
    both of the above plus the scripts the text writes (heredoc or ``echo >`` into a file) and the
    paths it executes, for "written in one step, run in a later one".

Everything is deterministic and offline; nothing here executes anything.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import itertools
import re
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

_LANGUAGE = Language(tree_sitter_bash.language())
_PARSER = Parser(_LANGUAGE)

MAX_DEPTH = 6            # nesting of bash -c / eval / ssh / base64 payloads
MAX_COMMANDS = 2000      # simple commands kept per text
MAX_ALTERNATIVES = 4096  # expansions of one word (loop variables times brace ranges)
MAX_TEXT = 1 << 20       # bytes of one command text that are parsed
COMMAND_EXCERPT = 400

SHELLS = {"bash", "sh", "zsh", "dash", "ksh", "ash", "busybox", "fish", "rbash"}
PYTHONS = re.compile(r"^python(\d(\.\d+)?)?$|^pypy3?$")
# Commands that run the rest of their argv as another command (prefix options skipped).
WRAPPERS = {
    "nohup": "", "setsid": "fw", "sudo": "ugCDhprTUg", "doas": "u", "nice": "n", "ionice": "cnt",
    "timeout": "sk", "stdbuf": "ioe", "time": "", "exec": "a", "command": "", "builtin": "",
    "env": "uSCP", "chroot": "", "torsocks": "", "proxychains": "f", "proxychains4": "f",
    "unbuffer": "", "nsenter": "tS", "taskset": "", "chrt": "", "caffeinate": "", "script": "",
    "xargs": "IdEaLnPsd", "watch": "nd", "flock": "w", "su": "", "runuser": "ug",
}
DETACH_WRAPPERS = {"nohup", "setsid", "disown"}

MINER_BINARIES = {
    "xmrig", "xmr-stak", "xmr-stak-rx", "xmrig-cuda", "t-rex", "trex", "lolminer", "gminer", "miner",
    "nbminer", "ethminer", "nanominer", "srbminer", "srbminer-multi", "cpuminer", "cpuminer-opt",
    "minerd", "ccminer", "phoenixminer", "teamredminer", "bzminer", "cgminer", "bfgminer",
    "rigel", "onezerominer", "wildrig", "wildrig-multi", "kawpowminer", "xmrminer", "claymore",
}
MINER_FLAGS = {"--donate-level", "--cuda", "--opencl", "--coin", "--algo", "--randomx-1gb-pages",
               "--nicehash", "--rig-id", "--cpu-max-threads-hint", "--cuda-devices", "--pool", "--wallet"}
TUNNEL_TOOLS = {"ngrok", "frpc", "frps", "chisel", "cloudflared", "bore", "rathole", "gost",
                "iodine", "dns2tcp", "ligolo", "ligolo-ng", "localtunnel", "lt", "pinggy", "sshuttle",
                "stunnel", "ptunnel", "3proxy", "microsocks"}
SCANNERS = {"nmap", "masscan", "zmap", "rustscan", "unicornscan", "hping3", "fping", "arp-scan",
            "nbtscan", "netdiscover", "naabu", "zgrab", "zgrab2"}
MONITOR_PROCESSES = {"falco", "auditd", "osqueryd", "wazuh-agentd", "dcgm-exporter", "nv-hostengine",
                     "node_exporter", "datadog-agent", "aliyun-service", "aegis", "aliyundun", "cloudmonitor",
                     "amazon-cloudwatch-agent", "google_guest_agent", "filebeat", "fluent-bit", "fluentd",
                     "promtail", "sysdig", "tetragon", "crowdstrike", "falcon-sensor", "ossec", "splunkd",
                     "nvidia-dcgm", "dcgm", "telegraf", "collectd"}
METADATA_HOSTS = {"169.254.169.254", "100.100.100.200", "metadata.google.internal", "169.254.170.2",
                  "fd00:ec2::254", "metadata.tencentyun.com", "169.254.0.23"}
SHELL_RC = re.compile(r"(^|/)(\.bashrc|\.bash_profile|\.profile|\.zshrc|\.bash_login|\.zprofile|"
                      r"bash\.bashrc|profile(\.d/[^/]+)?)$")
SECRET_PATH = re.compile(
    r"(\.ssh/(id_[a-z0-9_]+|identity|authorized_keys|known_hosts|config)\b|/etc/shadow\b|\.aws/credentials|"
    r"\.netrc\b|\.git-credentials|\.docker/config\.json|\.kube/config|\.config/gcloud|\.pgpass|"
    r"\.npmrc|\.pypirc|/proc/\d+/environ|/proc/self/environ|\.env\b|\.huggingface/token|\.cache/huggingface/token|"
    r"wandb/settings|\.netrc)")
SECRET_VAR = re.compile(r"(KEY|TOKEN|SECRET|PASSW(OR)?D|CREDENTIAL|AWS_|ACCESS_KEY|API_KEY|HF_TOKEN|OPENAI)", re.I)

# Everything the analysis can flag starts from one of these words (or an address, URL, wallet, a
# lone `&`, a secret's path, an environment dump, a grep for secrets): candidates are filtered with
# this pattern in SQL (RE2: no look-arounds) before any text reaches the parser. Every rule below
# must be reachable through it; tests check the corpus, the fixtures and the sample incident.
# Kept tight on purpose: `python -c`, `sed -e`, `git fetch`, `docker exec` or a `metadata.json`
# are everyday commands, and a payload they carry is caught by its own words (ssh, curl, socket...).
_CANDIDATE_WORDS = sorted(
    MINER_BINARIES | TUNNEL_TOOLS | SCANNERS | MONITOR_PROCESSES | DETACH_WRAPPERS | {
        "ssh", "autossh", "sshpass", "socat", "ncat", "nc", "netcat", "telnet", "curl", "wget", "aria2c",
        "scp", "rsync", "sftp", "tftp", "base64", "xxd", "eval", "crontab", "cron", "systemctl", "service",
        "screen", "tmux", "history", "histfile", "histsize", "iptables", "ip6tables", "nft", "ufw",
        "setenforce", "nvidia-smi", "ifconfig", "arp", "netstat", "lsof", "route", "whoami", "uname",
        "stratum", "donate-level", "--cuda", "--cuda-devices", "--opencl", "--coin",
        "--algo", "--wallet", "--pool", "monero", "ping", "authorized_keys", ".bashrc", ".profile",
        ".bash_profile", ".zshrc", "rc.local", "shadow", "id_rsa", "id_ed25519", "id_ecdsa", ".ssh",
        "var/log", "_history", "dig", "nslookup", "traceroute", "chattr",
        "useradd", "usermod", "adduser", "disown", "hosts", "resolv.conf", "/proc/net", ".service",
        "systemd", "init.d", "exec", "axel",
        # Python, Perl, Ruby and PHP reverse shells (their -c / -e payloads)
        "socket", "tcpsocket", "fsockopen", "dup2", "pty",
    } | {h for h in METADATA_HOSTS if not h[0].isdigit()})
CANDIDATE_PATTERN = (
    r"(?i)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|://|/dev/(tcp|udp)/|(^|[^&>|])&([^&>]|$)|"
    r"[48][1-9A-HJ-NP-Za-km-z]{93}|0x[a-fA-F0-9]{40}|bc1[a-z0-9]{20}|\bip\s+(-\w+\s+)*(a|addr|address|r|route|link|neigh|n)\b|"
    + SECRET_PATH.pattern + "|"
    # env / printenv / set / export alone (a dump) or naming a secret, and a grep for secrets in a pipe
    + r"(^|[^\w.-])(env|printenv|set|export)(\s*($|[|;&)>])|\s[^|;&\n]*(" + SECRET_VAR.pattern + "))|"
    + r"\|\s*grep\s[^|;&\n]*(" + SECRET_VAR.pattern + ")|"
    # the BSD downloader, at the start of a command (not `git fetch`)
    + r"(^|[;&|(\n]\s*)fetch\s|"
    + r"(^|[^\w.-])("
    + "|".join(re.escape(w).replace("\\-", "-") for w in sorted(_CANDIDATE_WORDS, key=len, reverse=True))
    + r")([^\w-]|$))"
)
_CANDIDATE_RE = re.compile(CANDIDATE_PATTERN)

ATTACK = {
    "tunnel": "T1572", "proxy": "T1090", "reverse_shell": "T1059.004", "scan": "T1046",
    "ping_sweep": "T1018", "mining": "T1496", "download": "T1105", "download_exec": "T1105",
    "cron": "T1053.003", "systemd": "T1543.002", "shell_rc": "T1546.004", "authorized_keys": "T1098.004",
    "detach": "T1059.004", "gpu_recon": "T1082", "system_recon": "T1082", "network_recon": "T1016",
    "remote_recon": "T1018", "connections_recon": "T1049", "user_recon": "T1033", "process_recon": "T1057",
    "cloud_metadata": "T1552.005", "private_keys": "T1552.004", "credential_files": "T1552.001",
    "env_secrets": "T1552.001", "clear_history": "T1070.003", "disable_firewall": "T1562.004",
    "disable_tools": "T1562.001", "clear_logs": "T1070.002", "decode_payload": "T1140",
    "exfil": "T1048", "account": "T1136.001", "file_attrs": "T1222.002",
}


# ---------------------------------------------------------------------------------------------------
# Data shapes

@dataclass
class SimpleCommand:
    """One simple command (a program with its arguments) found in a shell text."""

    argv: list[str]                    # as written, variables substituted when known
    exe: str                           # basename of argv[0] after wrappers (``ssh``, ``xmrig``)
    args: list[str]                    # argv after the wrappers, starting with the program
    wrappers: list[str] = field(default_factory=list)   # nohup, sudo, timeout …
    alternatives: list[list[str]] = field(default_factory=list)  # per word, every known expansion
    templates: list[str] = field(default_factory=list)  # per word after the wrappers, variables unexpanded
    redirects: list[tuple[str, str]] = field(default_factory=list)  # (operator, target)
    redirect_alternatives: list[list[str]] = field(default_factory=list)  # every expansion of each target
    heredoc: str | None = None
    background: bool = False
    pipeline: int = -1                 # id of the pipeline it belongs to (-1: none)
    position: int = 0                  # index within that pipeline
    in_loop: bool = False
    via: str = "top"                   # how it was reached: top, bash -c, eval, ssh, base64, python -c …
    depth: int = 0
    text: str = ""                     # the source text of the command (bounded)
    error: bool = False                # the parser had to recover around it

    def __post_init__(self) -> None:
        if len(self.text) > COMMAND_EXCERPT:
            self.text = self.text[: COMMAND_EXCERPT - 1] + "…"


@dataclass(frozen=True)
class Indicator:
    """One categorised fact extracted from a command."""

    category: str          # tunnel, scan, mining, download_exec, persistence, recon, ...
    technique: str         # ssh_reverse_forward, dev_tcp_probe, miner_binary, ...
    attack_id: str | None  # MITRE ATT&CK technique id
    kind: str              # ip, host, port, url, wallet, binary, path, ip_range, cidr, forward, flag
    value: str
    basis: str = "parsed"  # parsed, bash -c, ssh, eval, base64, python -c, variable, loop, regex, script
    command: str = ""      # the simple command it came from (bounded)
    confidence: float = 0.9
    ip: str | None = None
    ip_end: str | None = None
    hostname: str | None = None
    port: int | None = None
    detail: str | None = None


@dataclass
class Script:
    path: str
    content: str
    how: str  # heredoc, echo, tee, editor


@dataclass
class Analysis:
    commands: list[SimpleCommand]
    indicators: list[Indicator]
    scripts_written: list[Script]
    paths_executed: list[str]
    parse_error: bool


# ---------------------------------------------------------------------------------------------------
# Parsing

class _Walker:
    def __init__(self) -> None:
        self.commands: list[SimpleCommand] = []
        self.pipelines = 0
        self.error = False
        self.python_payloads: list[tuple[str, str, int]] = []  # (code, via, depth)

    # -- words ---------------------------------------------------------------------------------
    def template(self, node: Node, env: dict[str, list[str]]) -> str:
        """The word with quotes removed and expansions kept as ``$name`` / ``${name...}``."""
        t = node.type
        if t in ("word", "number", "string_content", "variable_name", "special_variable_name"):
            text = _text(node)
            if t == "word" and "\\" in text:
                text = re.sub(r"\\(.)", r"\1", text)
            return text
        if t == "raw_string":
            return _text(node)[1:-1]
        if t == "ansi_c_string":
            body = _text(node)[2:-1]
            try:
                return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
            except (UnicodeDecodeError, UnicodeEncodeError):
                return body
        if t in ("string", "concatenation", "translated_string"):
            parts = []
            for child in node.children:
                if child.type == '"':
                    continue
                parts.append(self.template(child, env))
            return "".join(parts)
        if t == "simple_expansion":
            return "${" + _text(node)[1:] + "}"
        if t == "expansion":
            return _text(node)
        if t == "brace_expression":
            return _text(node)
        if t in ("command_substitution", "process_substitution"):
            inner = [c for c in node.children if c.is_named]
            for child in inner:
                self.walk(child, env, depth=0, via="$(...)")
            values = _evaluate_substitution(_text(node), self, env)
            if values is not None and len(values) == 1:
                return values[0]
            if values is not None:
                key = f"__subst{len(env)}_{abs(hash(_text(node))) % 10**8}"
                env[key] = values
                return "${" + key + "}"
            return _text(node)
        return _text(node)

    def expand(self, template: str, env: dict[str, list[str]]) -> list[str]:
        return _expand(template, env)

    # -- tree ----------------------------------------------------------------------------------
    def walk(self, node: Node, env: dict[str, list[str]], depth: int, via: str,
             in_loop: bool = False) -> None:
        if len(self.commands) >= MAX_COMMANDS:
            return
        t = node.type
        if t == "ERROR" or node.is_missing:
            self.error = True
        if t == "command":
            self.command(node, env, depth, via, in_loop, [], None)
            return
        if t == "redirected_statement":
            body = node.child_by_field_name("body") or (node.children[0] if node.children else None)
            redirects, heredoc = self.redirects(node, env)
            if body is None or body.type in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                # a bare redirection (`</dev/tcp/10.0.0.1/22`): bash opens the target and runs
                # nothing, which is how a /dev/tcp probe is usually written inside bash -c
                targets = [self.expand(target, env)[:MAX_ALTERNATIVES] or [""] for _, target in redirects]
                if redirects:
                    self.add(SimpleCommand(
                        argv=[], exe="", args=[], alternatives=[], templates=[], heredoc=heredoc,
                        redirects=[(op, alts[0]) for (op, _), alts in zip(redirects, targets)],
                        redirect_alternatives=targets, in_loop=in_loop, via=via, depth=depth,
                        text=_text(node), error=node.has_error))
                return
            if body.type == "command":
                self.command(body, env, depth, via, in_loop, redirects, heredoc)
            elif body is not None:
                start = len(self.commands)
                self.walk(body, env, depth, via, in_loop)
                for cmd in self.commands[start:]:
                    for op, target in redirects:
                        alts = self.expand(target, env)[:MAX_ALTERNATIVES] or [""]
                        cmd.redirects.append((op, alts[0]))
                        cmd.redirect_alternatives.append(alts)
            return
        if t == "variable_assignment":
            self.assign(node, env)
            return
        if t == "declaration_command":
            for child in node.children:
                if child.type == "variable_assignment":
                    self.assign(child, env)
            keyword = _text(node.children[0]) if node.children else "export"
            words = [self.template(c, env) for c in node.children[1:] if c.is_named]
            self.add(SimpleCommand(argv=[keyword] + words, exe=keyword, args=[keyword] + words,
                                   alternatives=[[keyword]] + [[w] for w in words], via=via, depth=depth,
                                   in_loop=in_loop, text=_text(node)))
            return
        if t == "unset_command":
            words = [self.template(c, env) for c in node.children if c.is_named]
            self.add(SimpleCommand(argv=["unset"] + words, exe="unset", args=["unset"] + words,
                                   alternatives=[["unset"]] + [[w] for w in words], via=via,
                                   depth=depth, in_loop=in_loop, text=_text(node)))
            return
        if t == "for_statement":
            var = node.child_by_field_name("variable")
            values: list[str] = []
            seen_in = False
            for child in node.children:
                if child.type == "in":
                    seen_in = True
                    continue
                if seen_in and child.is_named and child.type not in ("do_group", "variable_name"):
                    values.extend(self.expand(self.template(child, env), env))
            body = node.child_by_field_name("body")
            inner = dict(env)
            if var is not None:
                inner[_text(var)] = values[:MAX_ALTERNATIVES] or ["${" + _text(var) + "}"]
            if body is not None:
                self.walk(body, inner, depth, via, True)
            return
        if t == "c_style_for_statement":
            inner = dict(env)
            var, lo, hi = _c_style_range(_text(node))
            if var:
                inner[var] = [str(i) for i in range(lo, hi + 1)][:MAX_ALTERNATIVES]
            body = node.child_by_field_name("body")
            for child in node.children:
                if child.type in ("do_group", "compound_statement"):
                    body = child
            if body is not None:
                self.walk(body, inner, depth, via, True)
            return
        if t in ("while_statement", "until_statement"):
            for child in node.children:
                if child.is_named:
                    self.walk(child, env, depth, via, True)
            return
        if t == "pipeline":
            self.pipelines += 1
            pid = self.pipelines
            position = 0
            for child in node.children:
                if not child.is_named:
                    continue
                start = len(self.commands)
                self.walk(child, env, depth, via, in_loop)
                for cmd in self.commands[start:]:
                    if cmd.pipeline == -1:
                        cmd.pipeline, cmd.position = pid, position
                position += 1
            return
        if t == "function_definition":
            for child in node.children:
                if child.is_named and child.type != "word":
                    self.walk(child, env, depth, via, in_loop)
            return
        # program, list, subshell, compound_statement, if/case, do_group, negated_command …
        previous_start = len(self.commands)
        for child in node.children:
            if child.type == "&":
                for cmd in self.commands[previous_start:]:
                    if cmd.depth == depth:
                        cmd.background = True
                continue
            if child.is_named:
                previous_start = len(self.commands)
                self.walk(child, env, depth, via, in_loop)

    def assign(self, node: Node, env: dict[str, list[str]]) -> None:
        name = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        if name is None:
            return
        if value is None:
            env[_text(name)] = [""]
            return
        if value.type == "array":
            items: list[str] = []
            for child in value.children:
                if child.is_named:
                    items.extend(self.expand(self.template(child, env), env))
            env[_text(name)] = items[:MAX_ALTERNATIVES] or [""]
            return
        env[_text(name)] = self.expand(self.template(value, env), env)[:MAX_ALTERNATIVES]
        if value.type in ("command_substitution",):
            pass

    def redirects(self, node: Node, env: dict[str, list[str]]) -> tuple[list[tuple[str, str]], str | None]:
        redirects: list[tuple[str, str]] = []
        heredoc: str | None = None
        for child in node.children:
            if child.type == "file_redirect":
                op, target = ">", ""
                for part in child.children:
                    if not part.is_named and part.type not in ("file_descriptor",):
                        op = part.type
                    elif part.is_named and part.type != "file_descriptor" and not target:
                        target = self.template(part, env)
                redirects.append((op, target))
            elif child.type == "heredoc_redirect":
                for part in child.children:
                    if part.type == "heredoc_body":
                        heredoc = _text(part)
                    elif part.type in ("pipeline", "command", "list", "file_redirect", "redirected_statement"):
                        # `cat <<EOF | sh`, `cat <<EOF > file`: the parts after the heredoc start
                        if part.type == "file_redirect":
                            sub, _ = self.redirects(child, env)
                            redirects.extend(r for r in sub if r not in redirects)
                        else:
                            self.walk(part, env, 0, "heredoc-pipe")
            elif child.type == "herestring_redirect":
                for part in child.children:
                    if part.is_named:
                        heredoc = self.template(part, env)
        return redirects, heredoc

    def command(self, node: Node, env: dict[str, list[str]], depth: int, via: str, in_loop: bool,
                redirects: list[tuple[str, str]], heredoc: str | None) -> None:
        local_env = env
        words: list[Node] = []
        for child in node.children:
            if child.type == "variable_assignment":
                if local_env is env:
                    local_env = dict(env)
                self.assign(child, local_env)
            elif child.type == "command_name":
                words.extend(c for c in child.children if c.is_named)
            elif child.type in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                more, doc = self.redirects(_Wrap(child), local_env)
                redirects = redirects + more
                heredoc = heredoc or doc
            elif child.is_named:
                words.append(child)
        if not words:
            return
        alternatives = []
        templates = []
        for word in words:
            template = self.template(word, local_env)
            templates.append(template)
            alts = self.expand(template, local_env)
            alternatives.append(alts[:MAX_ALTERNATIVES] or [""])
        argv = [alts[0] for alts in alternatives]
        args, wrappers = _strip_wrappers(argv)
        offset = len(argv) - len(args)
        targets = [self.expand(target, local_env)[:MAX_ALTERNATIVES] or [""] for _, target in redirects]
        cmd = SimpleCommand(
            argv=argv, exe=_basename(args[0]) if args else "", args=args, wrappers=wrappers,
            alternatives=alternatives[offset:], templates=templates[offset:], heredoc=heredoc,
            redirects=[(op, alts[0]) for (op, _), alts in zip(redirects, targets)],
            redirect_alternatives=targets,
            in_loop=in_loop, via=via, depth=depth, text=_text(node),
            error=node.has_error,
        )
        self.add(cmd)
        self.nested(cmd, local_env, depth)

    def add(self, cmd: SimpleCommand) -> None:
        if len(self.commands) < MAX_COMMANDS:
            self.commands.append(cmd)

    def nested(self, cmd: SimpleCommand, env: dict[str, list[str]], depth: int) -> None:
        """Re-parse payloads handed to another interpreter."""
        if depth >= MAX_DEPTH:
            return
        # payloads keep their variables unexpanded: the nested parse sees the loop values in env
        exe, args = cmd.exe, (cmd.templates if len(cmd.templates) == len(cmd.args) else cmd.args)
        payload: str | None = None
        via = ""
        if exe in SHELLS:
            payload, via = _dash_c_payload(args), f"{exe} -c"
            if payload is None and cmd.heredoc and len(args) == 1:
                payload, via = cmd.heredoc, f"{exe} <<heredoc"
        elif exe == "eval":
            payload, via = " ".join(args[1:]), "eval"
        elif exe in ("su", "runuser"):
            payload, via = _dash_c_payload(args), "su -c"
        elif exe in ("ssh", "autossh"):
            remote = parse_ssh(args).remote_command
            if remote:
                payload, via = remote, "ssh"
        elif PYTHONS.match(exe):
            code = _flag_value(args, "-c")
            if code is None and cmd.heredoc and len(args) <= 2:
                code = cmd.heredoc
            if code:
                self.python_payloads.append((code, f"{exe} -c", depth + 1))
                for shell_text in python_shell_strings(code):
                    self.parse_into(shell_text, env, depth + 1, "python -c")
        elif exe in ("perl", "ruby", "php", "node"):
            code = _flag_value(args, "-e") or _flag_value(args, "-r")
            if code:
                self.python_payloads.append((code, f"{exe} -e", depth + 1))
                for shell_text in python_shell_strings(code):
                    self.parse_into(shell_text, env, depth + 1, f"{exe} -e")
        elif exe in ("docker", "kubectl", "podman", "crictl", "nerdctl") and "exec" in args[1:3]:
            rest = args[args.index("--") + 1:] if "--" in args else []
            if rest:
                payload, via = " ".join(shlex.quote(a) for a in rest), f"{exe} exec"
        if payload:
            self.parse_into(payload, env, depth + 1, via)

    def parse_into(self, text: str, env: dict[str, list[str]], depth: int, via: str) -> None:
        if not text or len(text) > MAX_TEXT:
            return
        tree = _PARSER.parse(text.encode("utf-8", "surrogateescape"))
        if tree.root_node.has_error:
            self.error = True
        self.walk(tree.root_node, dict(env), depth, via)


class _Wrap:
    """Lets :meth:`_Walker.redirects` read a single redirect node like a redirected statement."""

    def __init__(self, node: Node) -> None:
        self.children = [node]


def _text(node: Node) -> str:
    return node.text.decode("utf-8", "replace") if node.text is not None else ""


def _basename(path: str) -> str:
    return path.rsplit("/", 1)[-1]


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*|[0-9@*#?$!-])(?:(:?[-=+?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_BRACE_RANGE = re.compile(r"\{(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?\}")
_BRACE_LIST = re.compile(r"\{([^{}\s]*,[^{}\s]*)\}")


def _expand(template: str, env: dict[str, list[str]]) -> list[str]:
    """Every value a word can take, given known variables, loop values and brace ranges (bounded)."""
    pieces: list[list[str]] = []
    pos = 0
    tokens = []
    for m in _VAR.finditer(template):
        tokens.append((m.start(), m.end(), "var", m))
    for m in _BRACE_RANGE.finditer(template):
        tokens.append((m.start(), m.end(), "range", m))
    for m in _BRACE_LIST.finditer(template):
        tokens.append((m.start(), m.end(), "list", m))
    tokens.sort(key=lambda t: t[0])
    for start, end, kind, m in tokens:
        if start < pos:
            continue
        pieces.append([template[pos:start]])
        if kind == "var":
            name = m.group(1) or m.group(4)
            if name in env:
                pieces.append(env[name] or [""])
            elif m.group(2) and m.group(2).lstrip(":") in ("-", "=") and m.group(3) is not None:
                pieces.append(_expand(m.group(3), env))
            else:
                pieces.append([m.group(0)])
        elif kind == "range":
            lo, hi = int(m.group(1)), int(m.group(2))
            step = abs(int(m.group(3) or 1)) or 1
            values = range(lo, hi + 1, step) if lo <= hi else range(lo, hi - 1, -step)
            pieces.append([str(v) for v in itertools.islice(values, MAX_ALTERNATIVES)])
        else:
            pieces.append(m.group(1).split(","))
        pos = end
    pieces.append([template[pos:]])
    total = 1
    for piece in pieces:
        total *= max(1, len(piece))
    if total > MAX_ALTERNATIVES:
        # keep the ends of every range: enough to name the span without enumerating it
        pieces = [p if len(p) <= 2 else [p[0], p[-1]] for p in pieces]
    return ["".join(combo) for combo in itertools.islice(itertools.product(*pieces), MAX_ALTERNATIVES)]


def _c_style_range(text: str) -> tuple[str | None, int, int]:
    m = re.search(r"\(\(\s*([A-Za-z_]\w*)\s*=\s*(\d+)\s*;\s*\1\s*(<=|<)\s*(\d+)", text)
    if not m:
        return None, 0, 0
    lo, hi = int(m.group(2)), int(m.group(4))
    if m.group(3) == "<":
        hi -= 1
    return m.group(1), lo, min(hi, lo + MAX_ALTERNATIVES)


def _evaluate_substitution(text: str, walker: _Walker, env: dict[str, list[str]]) -> list[str] | None:
    """Deterministic values of ``$(seq 1 40)``, ``$(echo a b)``, ``$(echo BASE64 | base64 -d)``."""
    inner = text[2:-1].strip() if text.startswith(("$(", "<(", ">(")) else text.strip("`").strip()
    parts = [p.strip() for p in inner.split("|")]
    try:
        first = shlex.split(parts[0]) if parts[0] else []
    except ValueError:
        return None
    if not first:
        return None
    first = [_expand(w, env)[0] for w in first]
    if first[0] == "seq" and len(parts) == 1:
        nums = [a for a in first[1:] if re.fullmatch(r"-?\d+", a)]
        if len(nums) == 1:
            lo, step, hi = 1, 1, int(nums[0])
        elif len(nums) == 2:
            lo, step, hi = int(nums[0]), 1, int(nums[1])
        elif len(nums) == 3:
            lo, step, hi = int(nums[0]), int(nums[1]) or 1, int(nums[2])
        else:
            return None
        return [str(v) for v in itertools.islice(range(lo, hi + 1, step), MAX_ALTERNATIVES)]
    if first[0] in ("echo", "printf"):
        words = [w for w in first[1:] if not re.fullmatch(r"-[neE]+", w)]
        value = " ".join(words)
        if len(parts) == 1:
            return value.split() if first[0] == "echo" else [value]
        if len(parts) == 2 and re.match(r"base64\s+(-d|--decode|-D)", parts[1]):
            decoded = decode_base64(value)
            return [decoded] if decoded is not None else None
    return None


def decode_base64(value: str) -> str | None:
    """A base64 literal as text, when it decodes to printable UTF-8."""
    cleaned = re.sub(r"\s+", "", value)
    if len(cleaned) < 4 or not re.fullmatch(r"[A-Za-z0-9+/=_-]+", cleaned):
        return None
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        raw = base64.b64decode(cleaned, altchars=b"-_" if ("-" in cleaned or "_" in cleaned) else None,
                               validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not text or sum(ch.isprintable() or ch in "\n\t\r" for ch in text) < 0.95 * len(text):
        return None
    return text


def _dash_c_payload(args: list[str]) -> str | None:
    for i, arg in enumerate(args[1:], start=1):
        if arg == "--":
            return None
        if arg.startswith("-") and not arg.startswith("--") and "c" in arg[1:]:
            return args[i + 1] if i + 1 < len(args) else None
        if not arg.startswith("-"):
            return None
    return None


def _flag_value(args: list[str], flag: str) -> str | None:
    """The value of ``-o VALUE``, ``-oVALUE``, ``--long VALUE`` or ``--long=VALUE``."""
    for i, arg in enumerate(args[1:], start=1):
        if arg == flag:
            return args[i + 1] if i + 1 < len(args) else None
        if flag.startswith("--") and arg.startswith(flag + "="):
            return arg[len(flag) + 1:]
        if arg.startswith(flag) and len(arg) > len(flag) and not arg.startswith("--"):
            return arg[len(flag):]
    return None


def _strip_wrappers(argv: list[str]) -> tuple[list[str], list[str]]:
    """``nohup sudo -u x timeout 5 env A=1 cmd a`` → (``[cmd, a]``, ``[nohup, sudo, timeout, env]``)."""
    args = list(argv)
    wrappers: list[str] = []
    guard = 0
    while args and guard < 12:
        guard += 1
        name = _basename(args[0])
        if name not in WRAPPERS:
            break
        if name in ("su", "runuser") and any(a.startswith("-") and "c" in a for a in args[1:]):
            break  # su -c PAYLOAD is re-parsed as a payload instead
        takes_value = WRAPPERS[name]
        wrappers.append(name)
        i = 1
        while i < len(args):
            arg = args[i]
            if arg == "--":
                i += 1
                break
            if name == "env" and re.match(r"^[A-Za-z_]\w*=", arg):
                i += 1
                continue
            if arg.startswith("-") and len(arg) > 1:
                letter = arg[1] if not arg.startswith("--") else ""
                if letter and letter in takes_value and len(arg) == 2:
                    i += 2
                else:
                    i += 1
                continue
            if name in ("timeout", "nice", "taskset", "chrt", "watch", "flock") and re.fullmatch(r"[\d.]+[smhd]?|0x[0-9a-f]+", arg):
                i += 1
                continue
            break
        args = args[i:]
    return args, wrappers


def normalise_argv(argv: list[str]) -> list[str]:
    """An argv with launch wrappers removed, as a process table would show the real program."""
    return _strip_wrappers(list(argv))[0]


def parse_command(text: str) -> list[SimpleCommand]:
    """Every simple command in ``text`` (nested payloads re-parsed), in order."""
    return _parse(text)[0]


def _parse(text: str) -> tuple[list[SimpleCommand], bool, list[tuple[str, str, int]]]:
    walker = _Walker()
    if text:
        walker.parse_into(text[:MAX_TEXT], {}, 0, "top")
        _decode_base64_pipes(walker)
    return walker.commands, walker.error, walker.python_payloads


def _decode_base64_pipes(walker: _Walker) -> None:
    """``echo BASE64 | base64 -d | sh`` and ``base64 -d <<< BASE64``: decode and re-parse."""
    by_pipeline: dict[int, list[SimpleCommand]] = {}
    for cmd in list(walker.commands):
        if cmd.pipeline >= 0:
            by_pipeline.setdefault(cmd.pipeline, []).append(cmd)
        if cmd.exe == "base64" and any(a in ("-d", "--decode", "-D") for a in cmd.args) and cmd.heredoc:
            decoded = decode_base64(cmd.heredoc)
            if decoded and cmd.depth < MAX_DEPTH:
                walker.parse_into(decoded, {}, cmd.depth + 1, "base64")
    for members in by_pipeline.values():
        members.sort(key=lambda c: c.position)
        for i, cmd in enumerate(members[:-1]):
            nxt = members[i + 1]
            if cmd.exe in ("echo", "printf") and nxt.exe == "base64" and any(
                    a in ("-d", "--decode", "-D") for a in nxt.args):
                literal = " ".join(a for a in cmd.args[1:] if not re.fullmatch(r"-[neE]+", a))
                decoded = decode_base64(literal)
                if decoded and cmd.depth < MAX_DEPTH:
                    walker.parse_into(decoded, {}, cmd.depth + 1, "base64")


_PY_SHELL_CALL = re.compile(
    r"(?:os\.system|os\.popen|subprocess\.(?:run|call|Popen|check_output|check_call|getoutput|getstatusoutput)|"
    r"commands\.getoutput|pty\.spawn|system|exec|spawn|`)\s*\(?\s*(?:\[(?P<list>[^\]]*)\]|(?P<q>['\"])(?P<s>(?:\\.|(?!(?P=q)).)*)(?P=q))",
    re.S)
_PY_STRING = re.compile(r"(['\"])((?:\\.|(?!\1).)*)\1")


def python_shell_strings(code: str) -> list[str]:
    """Shell command strings a Python (or Perl/Ruby) snippet hands to the system."""
    found = []
    for m in _PY_SHELL_CALL.finditer(code):
        if m.group("list") is not None:
            items = [s[1] for s in _PY_STRING.findall(m.group("list"))]
            if items:
                found.append(" ".join(shlex.quote(i) for i in items))
        elif m.group("s") is not None:
            found.append(m.group("s").encode("latin-1", "backslashreplace").decode("unicode_escape", "replace"))
    return found


# ---------------------------------------------------------------------------------------------------
# Program-specific argument parsing

@dataclass
class SshCall:
    destination: str | None = None
    user: str | None = None
    port: int | None = None
    forwards: list[tuple[str, str]] = field(default_factory=list)  # (R|L|D|w, spec)
    options: dict[str, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    remote_command: str | None = None
    identity: str | None = None


SSH_ARG_OPTIONS = set("BbcDEeFIiJLlmOoPpQRSWw")


def parse_ssh(args: list[str]) -> SshCall:
    """getopt-style parsing of an ssh (or autossh) argv: clustered flags such as ``-fNR2222:h:22``
    are split, options taking a value are ``BbcDEeFIiJLlmOoPpQRSWw`` (ssh(1))."""
    call = SshCall()
    i = 1
    rest: list[str] = []
    arg_options = SSH_ARG_OPTIONS | ({"M"} if args and _basename(args[0]) == "autossh" else set())
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest = args[i + 1:]
            break
        if arg.startswith("-") and len(arg) > 1 and call.destination is None:
            j = 1
            while j < len(arg):
                letter = arg[j]
                if letter in arg_options:
                    value = arg[j + 1:]
                    if not value:
                        i += 1
                        value = args[i] if i < len(args) else ""
                    _ssh_option(call, letter, value)
                    break
                call.flags.add(letter)
                j += 1
            i += 1
            continue
        if call.destination is None:
            call.destination = arg
            i += 1
            rest = args[i:]
            break
        i += 1
    if call.destination:
        dest = call.destination
        if dest.startswith("ssh://"):
            dest = dest[6:]
            if re.search(r":(\d+)$", dest):
                call.port = call.port or int(re.search(r":(\d+)$", dest).group(1))
                dest = re.sub(r":\d+$", "", dest)
        if "@" in dest:
            call.user, dest = dest.rsplit("@", 1)
        call.destination = dest
    if rest:
        call.remote_command = " ".join(rest)
    for key, kind in (("remoteforward", "R"), ("localforward", "L"), ("dynamicforward", "D")):
        if key in call.options:
            call.forwards.append((kind, call.options[key].replace(" ", ":")))
    if "port" in call.options and call.port is None and call.options["port"].isdigit():
        call.port = int(call.options["port"])
    if "user" in call.options and call.user is None:
        call.user = call.options["user"]
    return call


def _ssh_option(call: SshCall, letter: str, value: str) -> None:
    if letter in "RLD":
        call.forwards.append((letter, value))
    elif letter == "w":
        call.forwards.append(("w", value))
    elif letter == "p" and value.isdigit():
        call.port = int(value)
    elif letter == "i":
        call.identity = value
    elif letter == "l":
        call.user = value
    elif letter == "o":
        key, _, val = value.partition("=")
        if not _:
            key, _, val = value.partition(" ")
        call.options[key.strip().lower()] = val.strip()
    elif letter == "M":
        call.options["autossh-monitor"] = value


def _split_host_port(value: str) -> tuple[str | None, int | None]:
    value = value.strip().strip("[]")
    m = re.fullmatch(r"\[?([^\]]+?)\]?:(\d{1,5})", value)
    if m:
        return m.group(1), int(m.group(2))
    return (value or None), None


def _is_ip(value: str | None) -> bool:
    if not value:
        return False
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False


_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{1,62}$")
_URL = re.compile(r"\b((?:stratum2?\+(?:tcp|ssl|tls)|stratum|https?|ftp|tftp|sftp|ssh|wss?|tcp|udp|socks[45]h?)://[^\s'\"<>`|;)]+)", re.I)
_IPV4 = re.compile(r"(?<![\d.])((?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3})(?:/(\d{1,2}))?(?::(\d{1,5}))?(?![\d.])")
WALLET_PATTERNS = [
    ("monero", re.compile(r"\b([48][0-9AB][1-9A-HJ-NP-Za-km-z]{93})\b")),
    ("monero", re.compile(r"\b(4[0-9AB][1-9A-HJ-NP-Za-km-z]{104})\b")),
    ("bitcoin", re.compile(r"\b(bc1[ac-hj-np-z02-9]{11,71})\b")),
    ("bitcoin", re.compile(r"\b([13][a-km-zA-HJ-NP-Z1-9]{25,34})\b")),
    ("ethereum", re.compile(r"\b(0x[a-fA-F0-9]{40})\b")),
    ("zcash", re.compile(r"\b(t1[a-km-zA-HJ-NP-Z1-9]{33})\b")),
    ("ravencoin", re.compile(r"\b(R[a-km-zA-HJ-NP-Z1-9]{33})\b")),
    ("litecoin", re.compile(r"\b(ltc1[ac-hj-np-z02-9]{11,71})\b")),
]


def url_parts(url: str) -> tuple[str | None, int | None, str]:
    """(host, port, scheme) of a URL, the port defaulted from the scheme."""
    m = re.match(r"^([A-Za-z0-9+.-]+)://(?:[^@/]*@)?(\[[^\]]+\]|[^/:?#]+)(?::(\d{1,5}))?", url)
    if not m:
        return None, None, ""
    scheme = m.group(1).lower()
    host = m.group(2).strip("[]").lower()
    port = int(m.group(3)) if m.group(3) else {"http": 80, "https": 443, "ftp": 21, "ssh": 22,
                                                   "sftp": 22, "ws": 80, "wss": 443}.get(scheme)
    return host, port, scheme


def wallets_in(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for coin, pattern in WALLET_PATTERNS:
        for m in pattern.finditer(text):
            if not any(m.group(1) == w for w, _ in found):
                found.append((m.group(1), coin))
    return found


# ---------------------------------------------------------------------------------------------------
# Indicators

class _Collector:
    def __init__(self) -> None:
        self.items: list[Indicator] = []
        self._seen: set[tuple] = set()

    def add(self, cmd: SimpleCommand | None, category: str, technique: str, kind: str, value: str,
            *, port: int | None = None, confidence: float = 0.9, detail: str | None = None,
            basis: str | None = None, attack: str | None = None) -> None:
        if value is None or value == "":
            return
        value = str(value)
        ip = ip_end = hostname = None
        if kind == "ip":
            ip = value
        elif kind == "host":
            hostname = value.lower()
            value = hostname
        elif kind == "ip_range":
            ip, _, ip_end = value.partition("-")
        elif kind == "cidr":
            try:
                net = ipaddress.ip_network(value, strict=False)
                ip, ip_end = str(net.network_address), str(net.broadcast_address)
            except ValueError:
                pass
        elif kind == "url":
            host, url_port, _ = url_parts(value)
            if host:
                if _is_ip(host):
                    ip = host
                else:
                    hostname = host
            port = port if port is not None else url_port
        elif kind == "port":
            try:
                port = int(value)
            except ValueError:
                return
        if basis is None:
            basis = "parsed" if cmd is None or cmd.via == "top" else cmd.via
            if cmd is not None and cmd.in_loop and kind in ("ip", "ip_range", "port", "url"):
                basis += "+loop"
        key = (category, technique, kind, value, port)
        if key in self._seen:
            return
        self._seen.add(key)
        self.items.append(Indicator(
            category=category, technique=technique,
            attack_id=attack if attack is not None else ATTACK.get(technique, ATTACK.get(category)),
            kind=kind, value=value, basis=basis, command=cmd.text if cmd else "", confidence=confidence,
            ip=ip, ip_end=ip_end, hostname=hostname, port=port, detail=detail))

    def endpoint(self, cmd: SimpleCommand | None, category: str, technique: str, host: str | None,
                 port: int | None, **kw) -> None:
        if not host:
            return
        host = host.strip("[]")
        if _is_ip(host):
            self.add(cmd, category, technique, "ip", host, port=port, **kw)
        elif _HOSTNAME.match(host) or host in ("localhost",):
            self.add(cmd, category, technique, "host", host, port=port, **kw)


def _collapse_ips(ips: Iterable[str]) -> list[tuple[str, str]]:
    """Contiguous IPv4 addresses as (first, last) ranges."""
    values = sorted({int(ipaddress.IPv4Address(ip)) for ip in ips if _is_ipv4(ip)})
    ranges: list[tuple[str, str]] = []
    for value in values:
        if ranges and int(ipaddress.IPv4Address(ranges[-1][1])) + 1 == value:
            ranges[-1] = (ranges[-1][0], str(ipaddress.IPv4Address(value)))
        else:
            ranges.append((str(ipaddress.IPv4Address(value)), str(ipaddress.IPv4Address(value))))
    return ranges


def _is_ipv4(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
        return True
    except ValueError:
        return False


def _is_internal(value: str) -> bool:
    try:
        addr = ipaddress.ip_address(value)
        return addr.is_private or addr.is_loopback or addr.is_link_local
    except ValueError:
        return False


_DEV_NET = re.compile(r"^/dev/(tcp|udp)/([^/]+)/(\d+)$")


def _targets(values: Iterable[str]) -> tuple[list[str], list[str]]:
    ips, hosts = [], []
    for value in values:
        host = value.split("@")[-1]
        if _is_ip(host):
            ips.append(host)
        elif _HOSTNAME.match(host):
            hosts.append(host)
    return ips, hosts


def _alts(cmd: SimpleCommand, index: int) -> list[str]:
    if 0 <= index < len(cmd.alternatives):
        return cmd.alternatives[index]
    return [cmd.args[index]] if 0 <= index < len(cmd.args) else []


def _ports_from(spec: str) -> list[int]:
    ports: list[int] = []
    for part in re.split(r"[,\s]+", spec):
        part = part.split(":")[-1]
        m = re.fullmatch(r"(\d{1,5})-(\d{1,5})", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            ports.extend([lo, hi] if hi - lo > 64 else range(lo, hi + 1))
        elif part.isdigit():
            ports.append(int(part))
    return [p for p in ports if 0 < p < 65536]


def _command_indicators(cmd: SimpleCommand, out: _Collector) -> None:
    exe, args = cmd.exe.lower(), cmd.args
    exe_base = re.sub(r"\.(exe|sh|bin|py)$", "", exe)
    lowered = [a.lower() for a in args]

    # --- detachment (persistence of the process, not of the host)
    for wrapper in cmd.wrappers:
        if wrapper in DETACH_WRAPPERS:
            out.add(cmd, "persistence", "detach", "binary", wrapper, confidence=0.5, detail=exe or None)
    if cmd.background and exe and exe not in ("sleep", "wait", "true"):
        out.add(cmd, "persistence", "detach", "binary", "&", confidence=0.4, detail=exe)
    if exe == "disown":
        out.add(cmd, "persistence", "detach", "binary", "disown", confidence=0.5)
    if exe == "screen" and any(a.startswith("-") and "d" in a and "m" in a for a in args[1:]):
        out.add(cmd, "persistence", "detach", "binary", "screen -dm", confidence=0.6)
    if exe == "tmux" and "new" in " ".join(lowered[1:3]) and "-d" in lowered:
        out.add(cmd, "persistence", "detach", "binary", "tmux new -d", confidence=0.6)

    # --- ssh tunnels and remote execution
    if exe in ("ssh", "autossh"):
        call = parse_ssh(args)
        host = call.destination
        port = call.port or 22
        for kind, spec in call.forwards:
            technique = {"R": "ssh_reverse_forward", "L": "ssh_local_forward", "D": "ssh_socks_proxy",
                         "w": "ssh_tun_device"}[kind]
            out.add(cmd, "tunnel", technique, "forward", f"-{kind} {spec}",
                    attack="T1090" if kind == "D" else "T1572", detail=f"ssh -{kind}")
            out.endpoint(cmd, "tunnel", technique, host, port,
                         attack="T1090" if kind == "D" else "T1572")
            bind = _ports_from(spec.split(":")[0] if kind != "D" else spec)
            for p in bind[:1]:
                out.add(cmd, "tunnel", technique, "port", str(p), detail="forwarded (listening) port")
        if exe == "autossh" or ({"N", "f"} <= call.flags and not call.forwards):
            out.endpoint(cmd, "tunnel", "ssh_background_session", host, port, confidence=0.6)
        if call.options.get("stricthostkeychecking", "").lower() == "no" and call.forwards:
            out.add(cmd, "tunnel", "ssh_reverse_forward" if any(k == "R" for k, _ in call.forwards)
                    else "ssh_local_forward", "flag", "StrictHostKeyChecking=no", confidence=0.5)
        if call.identity and SECRET_PATH.search(call.identity):
            out.add(cmd, "credential_access", "private_keys", "path", call.identity, confidence=0.4)
    if exe == "sshpass":
        out.add(cmd, "credential_access", "credential_files", "binary", "sshpass", confidence=0.5)

    # --- other tunnel tools
    if exe_base in TUNNEL_TOOLS:
        out.add(cmd, "tunnel", exe_base, "binary", exe_base, confidence=0.85,
                attack="T1090" if exe_base in ("microsocks", "3proxy", "sshuttle", "gost") else "T1572")
        for a in args[1:]:
            host, port = _split_host_port(re.sub(r"^R:|^[a-z]+://", "", a))
            if host and (_is_ip(host) or (_HOSTNAME.match(host) and "." in host)):
                out.endpoint(cmd, "tunnel", exe_base, host, port)
        if exe_base == "ngrok":
            for p in _ports_from(" ".join(args[2:3])):
                out.add(cmd, "tunnel", "ngrok", "port", str(p), detail="exposed local port")
    if exe in ("socat",):
        for a in args[1:]:
            m = re.match(r"(?i)(tcp[46]?|udp[46]?|openssl|tcp-connect|tcp4-connect|ssl)[:-](?:connect:)?([^:,]+):(\d+)", a)
            if m:
                out.endpoint(cmd, "tunnel", "socat_relay", m.group(2), int(m.group(3)))
            if re.match(r"(?i)exec:|system:", a) and any(re.search(r"sh\b|bash", x) for x in args):
                out.add(cmd, "tunnel", "reverse_shell", "binary", "socat", attack="T1059.004")
    if exe in ("nc", "ncat", "netcat", "nc.traditional", "nc.openbsd", "telnet"):
        flags = "".join(a[1:] for a in args[1:] if a.startswith("-") and not a.startswith("--"))
        positional = [a for a in args[1:] if not a.startswith("-")]
        # values of flags that take one (-w 1, -p 4444) are not targets
        positional = [a for i, a in enumerate(args[1:], start=1)
                      if not a.startswith("-") and not (args[i - 1] in ("-w", "-p", "-s", "-i", "-q", "-x") )]
        if "e" in flags or "c" in flags or "--sh-exec" in args or "--exec" in args:
            host_alts = _alts(cmd, args.index(positional[0])) if positional else []
            out.add(cmd, "tunnel", "reverse_shell", "binary", exe, attack="T1059.004")
            for h in host_alts[:1]:
                ports = [int(p) for p in positional[1:2] if p.isdigit()]
                out.endpoint(cmd, "tunnel", "reverse_shell", h, ports[0] if ports else None)
        elif "z" in flags and positional:
            hosts = _alts(cmd, args.index(positional[0]))
            ports = []
            for p in positional[1:]:
                for alt in _alts(cmd, args.index(p)):
                    ports.extend(_ports_from(alt))
            _scan_targets(cmd, out, "nc_port_probe", hosts, ports)
        elif "l" in flags:
            for p in _ports_from(" ".join(positional) + " " + (_flag_value(args, "-p") or "")):
                out.add(cmd, "tunnel", "listener", "port", str(p), confidence=0.5, attack="T1571")

    # --- reverse shells and probes through /dev/tcp redirects
    for (op, target), alts in zip(cmd.redirects, cmd.redirect_alternatives or [[t] for _, t in cmd.redirects]):
        _dev_tcp(cmd, out, op, alts)

    # --- scanners
    if exe_base in SCANNERS:
        out.add(cmd, "scan", "scanner", "binary", exe_base, attack="T1046")
        ports: list[int] = []
        targets: list[str] = []
        i = 1
        while i < len(args):
            a = args[i]
            if a in ("-p", "--ports", "--port", "-P") and i + 1 < len(args):
                ports.extend(_ports_from(args[i + 1]))
                i += 2
                continue
            if a.startswith("-p") and len(a) > 2 and a[2].isdigit():
                ports.extend(_ports_from(a[2:]))
            elif a.startswith("--ports="):
                ports.extend(_ports_from(a.split("=", 1)[1]))
            elif not a.startswith("-"):
                targets.extend(_alts(cmd, i))
            i += 1
        _scan_targets(cmd, out, "scanner", targets, ports)

    if exe == "ping" or exe == "fping":
        targets = []
        for i, a in enumerate(args[1:], start=1):
            if not a.startswith("-") and not args[i - 1] in ("-c", "-W", "-w", "-i", "-s", "-t"):
                targets.extend(_alts(cmd, i))
        ips, _ = _targets(targets)
        if len(set(ips)) > 1 or (cmd.in_loop and any("$" in a for a in cmd.argv)):
            _scan_targets(cmd, out, "ping_sweep", targets, [], attack="T1018")

    # --- downloads (and fetch-to-run in one pipeline is added at pipeline level)
    if exe in ("curl", "wget", "aria2c", "fetch", "lwp-download", "axel"):
        urls = []
        for i, a in enumerate(args[1:], start=1):
            for alt in _alts(cmd, i):
                if _URL.match(alt) or re.match(r"^[\w.-]+\.[a-z]{2,}/", alt) or re.match(r"^\d+\.\d+\.\d+\.\d+", alt):
                    urls.append(alt if "://" in alt else "http://" + alt)
        hosts = []
        for url in urls:
            host, port, _ = url_parts(url)
            if host:
                hosts.append(host)
        distinct_ips = {h for h in hosts if _is_ip(h)}
        internal = {h for h in distinct_ips if _is_internal(h)}
        if len(internal) > 3:
            _scan_targets(cmd, out, "http_sweep", [u for u in urls], [])
        else:
            for url in urls[:16]:
                host, port, _ = url_parts(url)
                if host in METADATA_HOSTS:
                    out.add(cmd, "recon", "cloud_metadata", "url", url)
                    continue
                out.add(cmd, "download_exec", "download", "url", url, confidence=0.4)
                out.endpoint(cmd, "download_exec", "download", host, port, confidence=0.4)
                name = _basename(url.split("?")[0])
                if name and any(m in name.lower() for m in MINER_BINARIES if len(m) > 4):
                    out.add(cmd, "mining", "miner_download", "binary", _miner_name(name) or name)
                    out.add(cmd, "mining", "miner_download", "url", url)
        if any(a in ("-T", "--upload-file") or a.startswith("--data-binary=@") or a.startswith("-F")
               for a in args) or any(a.startswith("@") for a in args):
            for url in urls[:4]:
                host, port, _ = url_parts(url)
                if host and not (_is_ip(host) and _is_internal(host)):
                    out.add(cmd, "exfil", "exfil", "url", url, confidence=0.6)

    if exe in ("scp", "rsync", "sftp") :
        for i, a in enumerate(args[1:], start=1):
            m = re.match(r"^(?:[^@/\s]+@)?([A-Za-z0-9.-]+):", a)
            if m and i == len(args) - 1:
                host = m.group(1)
                if not (_is_ip(host) and _is_internal(host)):
                    out.endpoint(cmd, "exfil", "exfil", host, 22, confidence=0.5)

    # --- mining
    miner = _miner_name(exe_base)
    if miner:
        out.add(cmd, "mining", "miner_binary", "binary", miner, confidence=0.95)
    mining_flags = [a for a in lowered if a.split("=")[0] in MINER_FLAGS]
    if mining_flags:
        for flag in mining_flags[:4]:
            out.add(cmd, "mining", "miner_flags", "flag", flag.split("=")[0], confidence=0.8 if miner else 0.6)
    joined = " ".join(args)
    for url in _URL.findall(joined):
        if url.lower().startswith("stratum"):
            out.add(cmd, "mining", "pool_url", "url", url, confidence=0.95)
            host, port, _ = url_parts(url)
            out.endpoint(cmd, "mining", "pool_url", host, port, confidence=0.95)
    if miner or mining_flags:
        for flag in ("-o", "--url", "--pool"):
            value = _flag_value(args, flag)
            if value and "://" not in value:
                host, port = _split_host_port(value)
                out.endpoint(cmd, "mining", "pool_url", host, port)
        for flag in ("-u", "--user", "--wallet", "-w"):
            value = _flag_value(args, flag)
            if value and len(value) >= 8:
                wallet = value.split(".")[0].split("+")[0]
                coins = wallets_in(wallet)
                out.add(cmd, "mining", "wallet", "wallet", wallet,
                        detail=("coin=" + coins[0][1]) if coins else "login", confidence=0.9 if coins else 0.6)
        for flag in ("--cuda-devices", "--opencl-devices", "-d", "--devices"):
            value = _flag_value(args, flag)
            if value and (miner or "--cuda" in lowered):
                out.add(cmd, "mining", "miner_flags", "flag", f"{flag}={value}", detail="gpu devices")
    for wallet, coin in wallets_in(joined):
        out.add(cmd, "mining", "wallet", "wallet", wallet, detail=f"coin={coin}",
                confidence=0.9 if (miner or mining_flags) else 0.6)

    # --- persistence
    if exe == "crontab" and not (len(args) == 2 and args[1] == "-l"):
        out.add(cmd, "persistence", "cron", "binary", "crontab")
    if exe == "systemctl" and len(args) > 1 and args[1] in ("enable", "daemon-reload", "start", "link"):
        unit = next((a for a in args[2:] if not a.startswith("-")), "")
        if args[1] in ("enable", "link") or unit.endswith(".service"):
            out.add(cmd, "persistence", "systemd", "path" if unit else "binary", unit or "systemctl", confidence=0.6)
    if exe in ("useradd", "adduser", "usermod"):
        out.add(cmd, "persistence", "account", "binary", exe, confidence=0.6)
    for op, target in cmd.redirects:
        if op in (">", ">>", "&>", "&>>", ">|"):
            _written_path(cmd, out, target)
    if exe == "tee" or (exe in ("cp", "mv", "install", "ln") and len(args) > 2):
        for a in args[1:] if exe == "tee" else args[-1:]:
            if not a.startswith("-"):
                _written_path(cmd, out, a)

    # --- recon
    if exe == "nvidia-smi":
        out.add(cmd, "recon", "gpu_recon", "binary", "nvidia-smi", confidence=0.5)
    if exe in ("ip",) and len(args) > 1 and args[1] in ("a", "addr", "address", "r", "route", "link", "neigh", "n", "-4", "-br", "-o"):
        out.add(cmd, "recon", "network_recon", "binary", "ip " + args[1], confidence=0.5)
    if exe in ("ifconfig", "route", "iwconfig", "nmcli") or (exe == "hostname" and "-I" in args):
        out.add(cmd, "recon", "network_recon", "binary", exe, confidence=0.5)
    if exe in ("arp", "ip") and ("-a" in args or "neigh" in args):
        out.add(cmd, "recon", "remote_recon", "binary", exe, confidence=0.5)
    if exe in ("netstat", "ss", "lsof") and any(a.startswith("-") for a in args[1:]):
        out.add(cmd, "recon", "connections_recon", "binary", exe, confidence=0.4)
    if exe in ("cat", "less", "more", "head", "tail", "grep", "awk", "getent"):
        for a in args[1:]:
            if a in ("/etc/hosts", "/etc/resolv.conf", "/proc/net/tcp", "/proc/net/route", "/proc/net/arp",
                     "/proc/net/fib_trie", "hosts"):
                out.add(cmd, "recon", "network_recon", "path", a, confidence=0.5)
    if exe in ("dig", "nslookup", "host") and len(args) > 1:
        out.add(cmd, "recon", "network_recon", "binary", exe, confidence=0.3)
    if exe == "whoami":
        out.add(cmd, "recon", "user_recon", "binary", exe, confidence=0.3)
    if exe == "uname" and "-a" in args:
        out.add(cmd, "recon", "system_recon", "binary", "uname -a", confidence=0.3)
    for a in args[1:]:
        for host in METADATA_HOSTS:
            if host in a:
                out.add(cmd, "recon", "cloud_metadata", "ip" if _is_ip(host) else "host", host, port=80)

    # --- credential access
    if exe in ("cat", "less", "more", "head", "tail", "cp", "scp", "base64", "xxd", "strings", "grep", "tar",
               "zip", "find", "ls", "curl"):
        for a in args[1:]:
            m = SECRET_PATH.search(a)
            if m and not a.endswith((".pub", "known_hosts")):
                technique = "private_keys" if "id_" in a or "identity" in a else "credential_files"
                out.add(cmd, "credential_access", technique, "path", a, confidence=0.7)
    if exe in ("env", "printenv", "set", "export") and (
            len(args) == 1 or any(SECRET_VAR.search(a) for a in args[1:])) and cmd.pipeline >= 0:
        out.add(cmd, "credential_access", "env_secrets", "binary", exe, confidence=0.4)
    if exe == "grep" and any(SECRET_VAR.search(a) for a in args[1:] if not a.startswith("-")) and cmd.position > 0:
        out.add(cmd, "credential_access", "env_secrets", "binary", "grep", confidence=0.5)
    if exe == "printenv" and any(SECRET_VAR.search(a) for a in args[1:]):
        out.add(cmd, "credential_access", "env_secrets", "binary", "printenv", confidence=0.6)

    # --- defence evasion
    if exe == "history" and "-c" in args:
        out.add(cmd, "defense_evasion", "clear_history", "binary", "history -c")
    if exe == "unset" and any(a.upper() in ("HISTFILE", "HISTSIZE", "HISTFILESIZE") for a in args):
        out.add(cmd, "defense_evasion", "clear_history", "binary", "unset HISTFILE")
    if exe in ("export", "declare", "local") and any(
            re.match(r"HIST(FILE|SIZE|FILESIZE)=(/dev/null|0)?$", a) for a in args):
        out.add(cmd, "defense_evasion", "clear_history", "binary", "HISTFILE")
    if exe in ("iptables", "ip6tables") and any(a in ("-F", "--flush", "-X", "-P") for a in args):
        out.add(cmd, "defense_evasion", "disable_firewall", "binary", exe + " " + " ".join(a for a in args[1:3]))
    if exe == "nft" and "flush" in args:
        out.add(cmd, "defense_evasion", "disable_firewall", "binary", "nft flush")
    if exe == "ufw" and "disable" in args or exe == "setenforce" and "0" in args:
        out.add(cmd, "defense_evasion", "disable_firewall" if exe == "ufw" else "disable_tools", "binary", exe)
    if exe in ("systemctl", "service") and any(a in ("stop", "disable", "mask") for a in args):
        for a in args[1:]:
            if a.split(".")[0] in MONITOR_PROCESSES or a.split(".")[0] in ("firewalld", "ufw", "iptables"):
                out.add(cmd, "defense_evasion", "disable_tools", "binary", a.split(".")[0])
    if exe in ("kill", "pkill", "killall"):
        for a in args[1:]:
            if a.lstrip("-").split("/")[-1] in MONITOR_PROCESSES:
                out.add(cmd, "defense_evasion", "disable_tools", "binary", a.split("/")[-1])
    if exe in ("rm", "shred", "truncate") and any(a.startswith("/var/log") or a.endswith(("_history", ".bash_history"))
                                                   for a in args[1:]):
        out.add(cmd, "defense_evasion", "clear_logs" if any(a.startswith("/var/log") for a in args)
                else "clear_history", "path", next(a for a in args[1:] if not a.startswith("-")))
    for op, target in cmd.redirects:
        if op in (">", ">|") and target.endswith(("_history", ".bash_history")) and exe in ("echo", "cat", "true", ":", ""):
            out.add(cmd, "defense_evasion", "clear_history", "path", target)
    if exe == "chattr" and any(a.startswith("+i") for a in args):
        out.add(cmd, "defense_evasion", "file_attrs", "path", args[-1], confidence=0.6)
    if exe == "base64" and any(a in ("-d", "--decode", "-D") for a in args) and cmd.pipeline >= 0:
        out.add(cmd, "defense_evasion", "decode_payload", "binary", "base64 -d", confidence=0.5)


def _miner_name(name: str) -> str | None:
    lowered = name.lower()
    if lowered in MINER_BINARIES and lowered != "miner":
        return lowered
    for miner in ("xmrig", "xmr-stak", "t-rex", "lolminer", "gminer", "nbminer", "ethminer", "nanominer",
                  "srbminer", "cpuminer", "ccminer", "phoenixminer", "teamredminer", "bzminer", "cgminer",
                  "bfgminer", "minerd", "kawpowminer", "wildrig"):
        if miner in lowered:
            return miner
    return None


def _written_path(cmd: SimpleCommand, out: _Collector, target: str) -> None:
    if not target or target.startswith("/dev/"):
        return
    if SHELL_RC.search(target):
        out.add(cmd, "persistence", "shell_rc", "path", target)
    elif target.endswith("authorized_keys"):
        out.add(cmd, "persistence", "authorized_keys", "path", target)
    elif re.search(r"/etc/(cron|crontab)|/var/spool/cron", target):
        out.add(cmd, "persistence", "cron", "path", target)
    elif re.search(r"systemd/(system|user)/.*\.(service|timer)$|/etc/init\.d/|rc\.local$", target):
        out.add(cmd, "persistence", "systemd", "path", target)


def _dev_tcp(cmd: SimpleCommand, out: _Collector, op: str, values: list[str]) -> None:
    if not values or ("/dev/tcp/" not in values[0] and "/dev/udp/" not in values[0]):
        return
    hosts, ports = [], []
    for value in values:
        m = _DEV_NET.match(value)
        if m:
            hosts.append(m.group(2))
            ports.append(int(m.group(3)))
    interactive = cmd.exe in SHELLS and any(a in ("-i", "-li", "-il") for a in cmd.args) or (
        cmd.exe in SHELLS and ("0>&1" in cmd.text or ">&" in op))
    if interactive and hosts:
        out.add(cmd, "tunnel", "reverse_shell", "binary", cmd.exe, attack="T1059.004")
        out.endpoint(cmd, "tunnel", "reverse_shell", hosts[0], ports[0] if ports else None)
        return
    _scan_targets(cmd, out, "dev_tcp_probe", hosts, ports)


def _scan_targets(cmd: SimpleCommand, out: _Collector, technique: str, targets: Iterable[str],
                  ports: Iterable[int], attack: str = "T1046") -> None:
    targets = list(targets)
    hostish = []
    for t in targets:
        t = re.sub(r"^[a-z]+://", "", t).split("/")[0]
        hostish.append(t)
    ips, hosts = [], []
    for t in hostish:
        if "/" in t or re.fullmatch(r"[\d.]+/\d{1,2}", t):
            continue
        host, port = _split_host_port(t)
        if host and _is_ip(host):
            ips.append(host)
        elif host and _HOSTNAME.match(host):
            hosts.append(host)
    cidrs = [t for t in targets if re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}/\d{1,2}", t)]
    distinct_ports = sorted(set(ports))
    many = len(set(ips)) > 1 or len(distinct_ports) > 1 or bool(cidrs) or technique == "scanner"
    confidence = 0.9 if many else 0.6
    for cidr in cidrs:
        out.add(cmd, "scan", technique, "cidr", cidr, attack=attack, confidence=confidence)
    for first, last in _collapse_ips(ips):
        if first == last:
            out.add(cmd, "scan", technique, "ip", first, attack=attack, confidence=confidence,
                    port=distinct_ports[0] if len(distinct_ports) == 1 else None)
        else:
            out.add(cmd, "scan", technique, "ip_range", f"{first}-{last}", attack=attack, confidence=confidence)
    for host in sorted(set(hosts))[:32]:
        out.add(cmd, "scan", technique, "host", host, attack=attack, confidence=confidence)
    for port in distinct_ports[:256]:
        out.add(cmd, "scan", technique, "port", str(port), attack=attack, confidence=confidence)


def _pipeline_indicators(commands: list[SimpleCommand], out: _Collector) -> None:
    pipelines: dict[tuple[int, int, str], list[SimpleCommand]] = {}
    for cmd in commands:
        if cmd.pipeline >= 0:
            pipelines.setdefault((cmd.pipeline, cmd.depth, cmd.via), []).append(cmd)
    for members in pipelines.values():
        members.sort(key=lambda c: c.position)
        fetchers = [c for c in members if c.exe in ("curl", "wget", "aria2c")]
        sinks = [c for c in members if c.exe in SHELLS or PYTHONS.match(c.exe) or c.exe in ("perl", "ruby", "source", ".")]
        if fetchers and sinks and sinks[-1].position > fetchers[0].position:
            for url in _URL.findall(" ".join(fetchers[0].args)) or [a for a in fetchers[0].args[1:] if not a.startswith("-")][:1]:
                out.add(fetchers[0], "download_exec", "download_pipe_shell", "url", url if "://" in url else "http://" + url,
                        attack="T1105", confidence=0.95)
                host, port, _ = url_parts(url if "://" in url else "http://" + url)
                out.endpoint(fetchers[0], "download_exec", "download_pipe_shell", host, port, attack="T1105")
            out.add(sinks[-1], "download_exec", "download_pipe_shell", "binary", sinks[-1].exe, attack="T1059.004")
        crontab = [c for c in members if c.exe == "crontab"]
        if crontab and crontab[-1].position > 0:
            out.add(crontab[-1], "persistence", "cron", "binary", "crontab")


def _fetch_then_run(commands: list[SimpleCommand], out: _Collector) -> list[str]:
    """Downloaded paths made executable or run later in the same text."""
    fetched: dict[str, tuple[SimpleCommand, str]] = {}
    for cmd in commands:
        if cmd.exe in ("curl", "wget"):
            out_path = _flag_value(cmd.args, "-o") or _flag_value(cmd.args, "-O") or _flag_value(cmd.args, "--output")
            urls = _URL.findall(" ".join(cmd.args))
            if urls:
                name = out_path or (_basename(urls[0].split("?")[0]) if cmd.exe == "wget" or "-O" in cmd.args else None)
                if name:
                    fetched[_basename(name)] = (cmd, urls[0])
                    fetched[name] = (cmd, urls[0])
    if not fetched:
        return []
    runs: list[str] = []
    for cmd in commands:
        candidates = []
        if cmd.exe == "chmod" and any("x" in a or re.fullmatch(r"[0-7]*[1357][0-7]*", a) for a in cmd.args[1:2]):
            candidates = cmd.args[2:]
        elif cmd.args and (cmd.args[0].startswith(("./", "/")) or cmd.exe in SHELLS):
            candidates = [cmd.args[0]] + ([cmd.args[1]] if len(cmd.args) > 1 and cmd.exe in SHELLS else [])
        for c in candidates:
            key = c if c in fetched else _basename(c)
            if key in fetched:
                src, url = fetched[key]
                out.add(src, "download_exec", "download_then_exec", "url", url, confidence=0.85)
                host, port, _ = url_parts(url)
                out.endpoint(src, "download_exec", "download_then_exec", host, port, confidence=0.85)
                out.add(cmd, "download_exec", "download_then_exec", "path", c, confidence=0.85)
                runs.append(c)
    return runs


def _regex_fallback(text: str, out: _Collector, basis: str = "regex") -> None:
    """Indicators from text the parser could not make sense of: addresses, pool URLs, wallets."""
    for url in _URL.findall(text):
        if url.lower().startswith("stratum"):
            out.add(None, "mining", "pool_url", "url", url, basis=basis, confidence=0.8)
            host, port, _ = url_parts(url)
            out.endpoint(None, "mining", "pool_url", host, port, basis=basis, confidence=0.8)
    for wallet, coin in wallets_in(text):
        out.add(None, "mining", "wallet", "wallet", wallet, detail=f"coin={coin}", basis=basis, confidence=0.5)
    for m in re.finditer(r"/dev/(tcp|udp)/(\d{1,3}(?:\.\d{1,3}){3})/(\d+)", text):
        out.add(None, "scan", "dev_tcp_probe", "ip", m.group(2), port=int(m.group(3)), basis=basis, confidence=0.5)
    for m in re.finditer(r"\bssh\b[^\n;&|]*\s-[A-Za-z]*R\s*(\S+)", text):
        out.add(None, "tunnel", "ssh_reverse_forward", "forward", "-R " + m.group(1), basis=basis, confidence=0.6)
    lowered = text.lower()
    for miner in ("xmrig", "xmr-stak", "lolminer", "t-rex", "nbminer", "ethminer", "cpuminer", "minerd"):
        if re.search(rf"(^|[\s/;&|]){re.escape(miner)}\b", lowered):
            out.add(None, "mining", "miner_binary", "binary", miner, basis=basis, confidence=0.7)


def _python_indicators(code: str, via: str, out: _Collector) -> None:
    """A Python/Perl/Ruby payload: sockets wired to a shell, URLs fetched, pools, wallets."""
    if re.search(r"socket\.|IO::Socket|TCPSocket|fsockopen", code) and re.search(
            r"dup2|pty\.spawn|/bin/(ba)?sh|subprocess|exec", code):
        m = re.search(r"connect\(\s*\(\s*['\"]([^'\"]+)['\"]\s*,\s*(\d+)", code) or re.search(
            r"(\d{1,3}(?:\.\d{1,3}){3})['\"]?\s*[,:]\s*(\d{2,5})", code)
        out.add(None, "tunnel", "reverse_shell", "binary", via.split()[0], basis=via, attack="T1059.004")
        if m:
            out.endpoint(None, "tunnel", "reverse_shell", m.group(1), int(m.group(2)), basis=via)
    for url in _URL.findall(code):
        if url.lower().startswith("stratum"):
            continue
        if re.search(r"urlopen|requests\.(get|post)|urlretrieve|wget|curl|httpx|LWP|open-uri", code):
            host, port, _ = url_parts(url)
            out.add(None, "download_exec", "download", "url", url, basis=via, confidence=0.4)
            out.endpoint(None, "download_exec", "download", host, port, basis=via, confidence=0.4)
    _regex_fallback(code, out, basis=via)


@lru_cache(maxsize=65536)
def _analyse_cached(text: str) -> Analysis:
    return _analyse(text)


def analyse(text: str) -> Analysis:
    """Commands, indicators, scripts written and paths executed for one shell text."""
    if len(text) <= 8192:
        return _analyse_cached(text)
    return _analyse(text)


def _analyse(text: str) -> Analysis:
    commands, error, python_payloads = _parse(text)
    out = _Collector()
    for cmd in commands:
        try:
            _command_indicators(cmd, out)
        except (ValueError, IndexError):  # odd argv shapes never stop the analysis of the rest
            continue
    _pipeline_indicators(commands, out)
    _fetch_then_run(commands, out)
    for code, via, _depth in python_payloads:
        _python_indicators(code, via, out)
    if error or not commands:
        _regex_fallback(text, out)
    scripts: list[Script] = []
    executed: list[str] = []
    for cmd in commands:
        if cmd.heredoc is not None:
            for op, target in cmd.redirects:
                if op in (">", ">>", ">|") and target and not target.startswith("/dev/"):
                    scripts.append(Script(target, cmd.heredoc, "heredoc"))
            if cmd.exe == "tee":
                for a in cmd.args[1:]:
                    if not a.startswith("-"):
                        scripts.append(Script(a, cmd.heredoc, "heredoc"))
        elif cmd.exe in ("echo", "printf"):
            for op, target in cmd.redirects:
                if op in (">", ">>") and target and not target.startswith("/dev/"):
                    body = " ".join(a for a in cmd.args[1:] if not re.fullmatch(r"-[neE]+", a))
                    if cmd.exe == "printf" or "-e" in cmd.args:
                        body = body.replace("\\n", "\n")
                    scripts.append(Script(target, body, "echo"))
        if cmd.args:
            if cmd.exe in SHELLS or PYTHONS.match(cmd.exe) or cmd.exe in ("source", ".", "perl", "ruby", "node"):
                target = next((a for a in cmd.args[1:] if not a.startswith("-")), None)
                if target and _dash_c_payload(cmd.args) is None and "-c" not in cmd.args:
                    executed.append(target)
            elif cmd.args[0].startswith(("./", "/", "~/")) and cmd.exe not in ("cat",):
                executed.append(cmd.args[0])
    # a script written and run within the same text is analysed as part of it
    for script in scripts:
        if any(p == script.path or _basename(p) == _basename(script.path) for p in executed):
            for ind in script_indicators(script.path, script.content):
                out.add(None, ind.category, ind.technique, ind.kind, ind.value, port=ind.port,
                        confidence=ind.confidence, detail=ind.detail, basis=f"script:{script.path}",
                        attack=ind.attack_id)
    return Analysis(commands=commands, indicators=out.items, scripts_written=scripts,
                    paths_executed=executed, parse_error=error)


def indicators(text: str) -> list[Indicator]:
    """Categorised indicators in one shell text (see the module docstring)."""
    return analyse(text).indicators


def is_candidate(text: str) -> bool:
    """Whether ``text`` can yield any indicator (the same test the SQL prefilter makes)."""
    return bool(_CANDIDATE_RE.search(text))


def script_indicators(path: str, content: str) -> list[Indicator]:
    """Indicators in a script file the agent wrote (shell, or Python by name or shebang)."""
    first = content.lstrip()[:80]
    if path.endswith(".py") or first.startswith("#!") and "python" in first.split("\n")[0]:
        out = _Collector()
        for shell_text in python_shell_strings(content):
            for ind in analyse(shell_text).indicators:
                out.items.append(ind)
        _python_indicators(content, "python", out)
        return out.items
    return analyse(content).indicators


__all__ = [
    "Analysis", "Indicator", "Script", "SimpleCommand", "SshCall", "CANDIDATE_PATTERN", "analyse",
    "decode_base64", "indicators", "is_candidate", "normalise_argv", "parse_command", "parse_ssh",
    "python_shell_strings", "script_indicators", "url_parts", "wallets_in",
]
