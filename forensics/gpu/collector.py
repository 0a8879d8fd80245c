"""``forensics collect gpu``: an NVML sampler to deploy on GPU nodes *before* an incident.

Everything else in this tool reads evidence after the fact; this is the one live component. At
each interval it writes JSON lines (read back by the ``nvml_snapshots`` parser):

- ``collector``: host, time zone (name and UTC offset), driver and NVML versions, interval;
- ``device``: identity of each GPU (index, UUID, PCI bus id, minor number, model, memory);
- ``sample``: utilisation, memory, power, energy, temperature and clocks of each GPU;
- ``process``: each running compute process with its GPU memory, name, command line and the
  Kubernetes pod UID / container id read from its cgroup;
- ``process_util``: NVML's per-process utilisation samples since the previous interval;
- ``accounting``: per-process accounting records when accounting mode is on (they survive the
  process's exit: the best after-the-fact per-PID evidence);
- ``xid``: XID critical-error events (live only: NVML keeps no history of them).

Files rotate at ``max_bytes`` (each file starts with the collector and device records, so every
file stands alone) and at most ``keep`` files are kept. Time stamps are UTC (ISO 8601, ``Z``).

The NVML binding is passed in: :mod:`pynvml` (from nvidia-ml-py) on a real node, or
:class:`FakeNvml` (seeded from a JSON fixture) in tests and demonstrations.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from forensics import __version__
from forensics.errors import ForensicsError

TOOL = "cluster-forensics collect gpu"
POD_UID = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
CONTAINER_ID = re.compile(r"(?:docker-|cri-containerd-|crio-|containerd-)?([0-9a-f]{64})(?:\.scope)?\s*$")


class CollectorUnavailable(ForensicsError):
    """NVML cannot be used here (no GPU, no driver, no library)."""


def utc_stamp(value: float | None = None) -> str:
    moment = datetime.fromtimestamp(time.time() if value is None else value, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def host_timezone() -> tuple[str | None, int]:
    """The host's time-zone name (IANA when it can be found) and its current UTC offset in seconds."""
    offset = int(datetime.now().astimezone().utcoffset().total_seconds())
    name = os.environ.get("TZ") or None
    if not name:
        try:
            name = Path("/etc/timezone").read_text().strip() or None
        except OSError:
            name = None
    if not name:
        try:
            target = os.readlink("/etc/localtime")
            if "zoneinfo/" in target:
                name = target.split("zoneinfo/", 1)[1]
        except OSError:
            pass
    return name or time.tzname[0], offset


def _text(value: Any) -> Any:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def read_process(pid: int, proc_root: str = "/proc") -> dict[str, Any]:
    """Name, command line and workload identity of a process from /proc (empty when it is gone
    or out of our PID namespace)."""
    info: dict[str, Any] = {}
    base = Path(proc_root) / str(pid)
    try:
        info["name"] = (base / "comm").read_text(errors="replace").strip()
    except OSError:
        return info
    try:
        raw = (base / "cmdline").read_bytes()
        info["cmdline"] = " ".join(part.decode("utf-8", errors="replace") for part in raw.split(b"\0") if part)
    except OSError:
        pass
    try:
        info["exe"] = os.readlink(base / "exe")
    except OSError:
        pass
    try:
        cgroup = (base / "cgroup").read_text(errors="replace")
    except OSError:
        cgroup = ""
    match = POD_UID.search(cgroup)
    if match:
        info["pod_uid"] = match.group(1).replace("_", "-")
    for line in cgroup.splitlines():
        found = CONTAINER_ID.search(line)
        if found:
            info["container_id"] = found.group(1)
            break
    return info


@dataclass
class RotatingWriter:
    """JSON lines into ``directory``, a new file past ``max_bytes``, at most ``keep`` files."""

    directory: Path
    prefix: str
    max_bytes: int = 64 << 20
    keep: int = 10
    on_new_file: Callable[[], list[dict]] | None = None
    files: list[Path] = field(default_factory=list)
    _handle: Any = None
    _size: int = 0

    def _open(self) -> None:
        self.close()
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"{self.prefix}-{stamp}.jsonl"
        self._handle = open(path, "w", encoding="utf-8")
        self._size = 0
        self.files.append(path)
        while len(self.files) > self.keep:
            old = self.files.pop(0)
            try:
                old.unlink()
            except OSError:
                pass
        for record in (self.on_new_file() if self.on_new_file else []):
            self._write(record)

    def _write(self, record: dict) -> None:
        line = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str) + "\n"
        self._handle.write(line)
        self._size += len(line.encode("utf-8"))

    def write(self, record: dict) -> None:
        if self._handle is None or self._size >= self.max_bytes:
            self._open()
        self._write(record)

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class Collector:
    """Samples every GPU through an NVML binding (``pynvml`` or :class:`FakeNvml`)."""

    def __init__(self, nvml: Any, host: str | None = None, proc_root: str = "/proc",
                 clock: Callable[[], float] = time.time) -> None:
        self.nv = nvml
        self.host = host or socket.gethostname()
        self.proc_root = proc_root
        self.clock = clock
        self.devices: list[dict[str, Any]] = []
        self.handles: list[Any] = []
        self.last_util_us: dict[int, int] = {}
        self.unsupported: dict[int, set[str]] = {}
        self.event_set = None
        self.started = False

    # ------------------------------------------------------------------ setup
    def start(self) -> None:
        try:
            self.nv.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, NoPermission ...
            raise CollectorUnavailable(
                f"no NVIDIA GPU or driver usable on this machine (NVML: {_nvml_message(exc)})") from None
        self.started = True
        count = self.nv.nvmlDeviceGetCount()
        if count == 0:
            raise CollectorUnavailable("NVML found no GPU on this machine")
        for index in range(count):
            handle = self.nv.nvmlDeviceGetHandleByIndex(index)
            self.handles.append(handle)
            self.unsupported[index] = set()
            device = {"record": "device", "index": index,
                      "uuid": _text(self._call(index, "nvmlDeviceGetUUID", handle)),
                      "name": _text(self._call(index, "nvmlDeviceGetName", handle)),
                      "minor_number": self._call(index, "nvmlDeviceGetMinorNumber", handle)}
            pci = self._call(index, "nvmlDeviceGetPciInfo", handle)
            device["pci_bus_id"] = _text(getattr(pci, "busId", None)) if pci is not None else None
            memory = self._call(index, "nvmlDeviceGetMemoryInfo", handle)
            device["memory_total_bytes"] = getattr(memory, "total", None)
            device["power_limit_mw"] = self._call(index, "nvmlDeviceGetEnforcedPowerLimit", handle)
            device["accounting_mode"] = self._call(index, "nvmlDeviceGetAccountingMode", handle)
            self.devices.append(device)
        try:
            self.event_set = self.nv.nvmlEventSetCreate()
            for index, handle in enumerate(self.handles):
                try:
                    self.nv.nvmlDeviceRegisterEvents(handle, self.nv.nvmlEventTypeXidCriticalError, self.event_set)
                except Exception:
                    self.unsupported[index].add("xid_events")
        except Exception:
            self.event_set = None

    def stop(self) -> None:
        if self.started:
            try:
                if self.event_set is not None:
                    self.nv.nvmlEventSetFree(self.event_set)
            except Exception:
                pass
            try:
                self.nv.nvmlShutdown()
            except Exception:
                pass
            self.started = False

    def _call(self, index: int, name: str, *args: Any) -> Any:
        """One NVML call; a call this GPU does not support gives None (and is remembered)."""
        try:
            return getattr(self.nv, name)(*args)
        except Exception:
            self.unsupported.setdefault(index, set()).add(name)
            return None

    # ------------------------------------------------------------------ records
    def header(self) -> list[dict]:
        zone, offset = host_timezone()
        driver = nvml_version = None
        try:
            driver = _text(self.nv.nvmlSystemGetDriverVersion())
            nvml_version = _text(self.nv.nvmlSystemGetNVMLVersion())
        except Exception:
            pass
        now = utc_stamp(self.clock())
        head = {"record": "collector", "ts": now, "host": self.host, "timezone": zone, "utc_offset_s": offset,
                "tool": TOOL, "version": __version__, "driver_version": driver, "nvml_version": nvml_version,
                "collector_pid": os.getpid()}
        devices = []
        for device in self.devices:
            record = dict(device, ts=now, host=self.host)
            if self.unsupported.get(device["index"]):
                record["unsupported"] = sorted(self.unsupported[device["index"]])
            devices.append(record)
        return [head] + devices

    def sample(self) -> list[dict]:
        """One round: a sample per GPU, its processes, per-process utilisation and accounting."""
        now = self.clock()
        stamp = utc_stamp(now)
        records: list[dict] = []
        for index, handle in enumerate(self.handles):
            device = self.devices[index]
            ident = {"host": self.host, "index": index, "uuid": device["uuid"], "pci_bus_id": device["pci_bus_id"]}
            util = self._call(index, "nvmlDeviceGetUtilizationRates", handle)
            memory = self._call(index, "nvmlDeviceGetMemoryInfo", handle)
            records.append({
                "record": "sample", "ts": stamp, **ident,
                "util_gpu": getattr(util, "gpu", None), "util_memory": getattr(util, "memory", None),
                "memory_used_bytes": getattr(memory, "used", None), "memory_free_bytes": getattr(memory, "free", None),
                "memory_total_bytes": getattr(memory, "total", None),
                "power_mw": self._call(index, "nvmlDeviceGetPowerUsage", handle),
                "power_limit_mw": self._call(index, "nvmlDeviceGetEnforcedPowerLimit", handle),
                "energy_mj": self._call(index, "nvmlDeviceGetTotalEnergyConsumption", handle),
                "temp_c": self._call(index, "nvmlDeviceGetTemperature", handle, 0),
                "sm_clock_mhz": self._call(index, "nvmlDeviceGetClockInfo", handle, 1),
                "mem_clock_mhz": self._call(index, "nvmlDeviceGetClockInfo", handle, 2),
            })
            names: dict[int, dict] = {}
            for proc in self._call(index, "nvmlDeviceGetComputeRunningProcesses", handle) or []:
                info = read_process(proc.pid, self.proc_root)
                names[proc.pid] = info
                records.append({"record": "process", "ts": stamp, **ident, "pid": proc.pid,
                                "used_memory_bytes": getattr(proc, "usedGpuMemory", None), **info})
            last = self.last_util_us.get(index, 0)  # first round: whatever the driver still holds
            try:
                samples = self.nv.nvmlDeviceGetProcessUtilization(handle, last)
            except Exception:  # NVMLError_NotFound: nothing newer than `last`
                samples = []
            for s in samples or []:
                info = names.get(s.pid) or read_process(s.pid, self.proc_root)
                records.append({"record": "process_util", "ts": utc_stamp(s.timeStamp / 1_000_000), **ident,
                                "pid": s.pid, "sm_util": s.smUtil, "mem_util": s.memUtil, "enc_util": s.encUtil,
                                "dec_util": s.decUtil, "name": info.get("name")})
                last = max(last, int(s.timeStamp))
            self.last_util_us[index] = last
            if self.devices[index].get("accounting_mode") == 1:
                for pid in self._call(index, "nvmlDeviceGetAccountingPids", handle) or []:
                    stats = self._call(index, "nvmlDeviceGetAccountingStats", handle, pid)
                    if stats is None:
                        continue
                    info = names.get(pid) or read_process(pid, self.proc_root)
                    records.append({
                        "record": "accounting", "ts": stamp, **ident, "pid": pid,
                        "gpu_util": stats.gpuUtilization, "mem_util": stats.memoryUtilization,
                        "max_memory_bytes": stats.maxMemoryUsage, "time_ms": stats.time,
                        "start_time": utc_stamp(stats.startTime / 1_000_000) if stats.startTime else None,
                        "is_running": bool(stats.isRunning), "name": info.get("name")})
        return records

    def wait_events(self, timeout_s: float) -> list[dict]:
        """Wait up to ``timeout_s`` for XID events (this is the pause between samples)."""
        if self.event_set is None:
            if timeout_s > 0:
                time.sleep(timeout_s)
            return []
        found: list[dict] = []
        deadline = self.clock() + timeout_s
        while True:
            remaining = deadline - self.clock()
            if remaining <= 0 and found:
                return found
            try:
                data = self.nv.nvmlEventSetWait(self.event_set, max(0, int(remaining * 1000)))
            except Exception:  # NVMLError_Timeout: no event before the deadline
                left = deadline - self.clock()
                if left > 0:  # a binding that returned early: keep the interval anyway
                    time.sleep(left)
                return found
            try:  # event handles are not comparable objects: identify the GPU by its UUID
                uuid = _text(self.nv.nvmlDeviceGetUUID(data.device))
            except Exception:
                uuid = None
            index = next((i for i, d in enumerate(self.devices) if d["uuid"] == uuid), None)
            device = self.devices[index] if index is not None else {}
            found.append({"record": "xid", "ts": utc_stamp(self.clock()), "host": self.host, "index": index,
                          "uuid": device.get("uuid"), "pci_bus_id": device.get("pci_bus_id"),
                          "xid": data.eventData, "event_type": data.eventType})
            if remaining <= 0:
                return found


def _nvml_message(exc: Exception) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__


def run_collector(nvml: Any, out_dir: str | os.PathLike[str], interval_s: float = 15.0, count: int = 0,
                  max_bytes: int = 64 << 20, keep: int = 10, host: str | None = None,
                  proc_root: str = "/proc", should_stop: Callable[[], bool] = lambda: False) -> list[Path]:
    """Sample ``count`` rounds (0: until ``should_stop``) into rotating files; returns the files
    still kept. Raises :class:`CollectorUnavailable` when there is no GPU or driver."""
    if interval_s <= 0:
        raise ForensicsError("--interval must be positive")
    collector = Collector(nvml, host=host, proc_root=proc_root)
    collector.start()
    safe_host = re.sub(r"[^A-Za-z0-9_.-]", "_", collector.host)
    writer = RotatingWriter(Path(out_dir), f"gpu-{safe_host}", max_bytes=max_bytes, keep=keep,
                            on_new_file=collector.header)
    rounds = 0
    try:
        while True:
            started = time.monotonic()
            for record in collector.sample():
                writer.write(record)
            writer.flush()
            rounds += 1
            if (count and rounds >= count) or should_stop():
                for _ in range(1000):  # events already queued are evidence too
                    events = collector.wait_events(0)
                    if not events:
                        break
                    for record in events:
                        writer.write(record)
                break
            for record in collector.wait_events(max(0.0, interval_s - (time.monotonic() - started))):
                writer.write(record)
            if should_stop():
                break
    finally:
        try:
            writer.write({"record": "collector_stop", "ts": utc_stamp(), "host": collector.host, "rounds": rounds})
        finally:
            writer.close()
            collector.stop()
    return list(writer.files)


# --------------------------------------------------------------------------- the fake NVML

class FakeNvmlError(Exception):
    """Raised by :class:`FakeNvml` where the real binding raises ``pynvml.NVMLError``."""


class FakeNvml:
    """A stand-in for :mod:`pynvml`, seeded from a JSON fixture (for tests and CI without a GPU).

    The fixture lists GPUs and, per round, what NVML would answer::

        {"driver_version": "550.144.03", "nvml_version": "12.550.144.03",
         "gpus": [{"uuid": "GPU-...", "name": "NVIDIA H100 80GB HBM3", "pci_bus_id": "00000000:18:00.0",
                   "minor_number": 0, "memory_total": 85520809984, "power_limit_mw": 700000,
                   "accounting_mode": 1, "unsupported": ["nvmlDeviceGetTotalEnergyConsumption"],
                   "rounds": [{"util": [97, 40], "memory_used": 7.5e10, "power_mw": 650000, "temp": 60,
                               "sm_clock": 1980, "mem_clock": 2619, "energy_mj": 123456,
                               "processes": [{"pid": 4242, "used_memory": 7.4e10}],
                               "process_util": [{"pid": 4242, "ts_us": 1771300800000000, "sm": 97, "mem": 40}],
                               "accounting": [{"pid": 4242, "gpu_util": 88, "mem_util": 35,
                                               "max_memory": 7.4e10, "time_ms": 0, "start_us": 1771290000000000,
                                               "running": true}],
                               "xid": [79]}]}]}

    ``{"init_error": "NVML Shared Library Not Found"}`` makes ``nvmlInit`` fail as on a machine
    without a driver. Each ``nvmlDeviceGetUtilizationRates`` call of a GPU moves it to its next
    round (the last round repeats).
    """

    nvmlEventTypeXidCriticalError = 0x8

    def __init__(self, fixture: dict | str | os.PathLike[str]) -> None:
        if not isinstance(fixture, dict):
            fixture = json.loads(Path(fixture).read_text(encoding="utf-8"))
        self.fixture = fixture
        self.gpus = fixture.get("gpus", [])
        self.round = [-1] * len(self.gpus)  # moved to 0 by the first utilisation call
        self.pending_xid: list[tuple[int, int]] = []
        self.initialised = False

    def _gpu(self, handle: int) -> dict:
        return self.gpus[handle]

    def _now(self, handle: int) -> dict:
        rounds = self._gpu(handle).get("rounds") or [{}]
        return rounds[min(max(self.round[handle], 0), len(rounds) - 1)]

    def _supported(self, handle: int, name: str) -> None:
        if name in self._gpu(handle).get("unsupported", []):
            raise FakeNvmlError(f"{name}: Not Supported")

    def nvmlInit(self) -> None:
        if self.fixture.get("init_error"):
            raise FakeNvmlError(self.fixture["init_error"])
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.initialised = False

    def nvmlSystemGetDriverVersion(self) -> str:
        return self.fixture.get("driver_version", "")

    def nvmlSystemGetNVMLVersion(self) -> str:
        return self.fixture.get("nvml_version", "")

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetUUID(self, h: int) -> str:
        return self._gpu(h)["uuid"]

    def nvmlDeviceGetName(self, h: int) -> str:
        return self._gpu(h).get("name", "")

    def nvmlDeviceGetMinorNumber(self, h: int) -> int:
        self._supported(h, "nvmlDeviceGetMinorNumber")
        return self._gpu(h).get("minor_number", h)

    def nvmlDeviceGetPciInfo(self, h: int) -> SimpleNamespace:
        return SimpleNamespace(busId=self._gpu(h).get("pci_bus_id"))

    def nvmlDeviceGetMemoryInfo(self, h: int) -> SimpleNamespace:
        total = self._gpu(h).get("memory_total", 0)
        used = self._now(h).get("memory_used", 0)
        return SimpleNamespace(total=int(total), used=int(used), free=int(total - used))

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        self._supported(h, "nvmlDeviceGetEnforcedPowerLimit")
        return self._gpu(h).get("power_limit_mw", 0)

    def nvmlDeviceGetAccountingMode(self, h: int) -> int:
        self._supported(h, "nvmlDeviceGetAccountingMode")
        return self._gpu(h).get("accounting_mode", 0)

    def nvmlDeviceGetUtilizationRates(self, h: int) -> SimpleNamespace:
        self.round[h] += 1
        gpu, memory = self._now(h).get("util", [0, 0])
        for xid in self._now(h).get("xid", []):
            self.pending_xid.append((h, xid))
        return SimpleNamespace(gpu=gpu, memory=memory)

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        self._supported(h, "nvmlDeviceGetPowerUsage")
        return self._now(h).get("power_mw", 0)

    def nvmlDeviceGetTotalEnergyConsumption(self, h: int) -> int:
        self._supported(h, "nvmlDeviceGetTotalEnergyConsumption")
        return self._now(h).get("energy_mj", 0)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return self._now(h).get("temp", 0)

    def nvmlDeviceGetClockInfo(self, h: int, clock: int) -> int:
        return self._now(h).get("sm_clock" if clock == 1 else "mem_clock", 0)

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list[SimpleNamespace]:
        return [SimpleNamespace(pid=p["pid"], usedGpuMemory=p.get("used_memory"), gpuInstanceId=None,
                                computeInstanceId=None) for p in self._now(h).get("processes", [])]

    def nvmlDeviceGetProcessUtilization(self, h: int, last_seen_us: int) -> list[SimpleNamespace]:
        found = [SimpleNamespace(pid=p["pid"], timeStamp=p["ts_us"], smUtil=p.get("sm", 0), memUtil=p.get("mem", 0),
                                 encUtil=p.get("enc", 0), decUtil=p.get("dec", 0))
                 for p in self._now(h).get("process_util", []) if p["ts_us"] > last_seen_us]
        if not found:
            raise FakeNvmlError("Not Found")
        return found

    def nvmlDeviceGetAccountingPids(self, h: int) -> list[int]:
        return [a["pid"] for a in self._now(h).get("accounting", [])]

    def nvmlDeviceGetAccountingStats(self, h: int, pid: int) -> SimpleNamespace:
        for a in self._now(h).get("accounting", []):
            if a["pid"] == pid:
                return SimpleNamespace(gpuUtilization=a.get("gpu_util"), memoryUtilization=a.get("mem_util"),
                                       maxMemoryUsage=a.get("max_memory"), time=a.get("time_ms", 0),
                                       startTime=a.get("start_us", 0), isRunning=int(a.get("running", True)))
        raise FakeNvmlError("Not Found")

    def nvmlEventSetCreate(self) -> str:
        return "fake-event-set"

    def nvmlDeviceRegisterEvents(self, h: int, event_types: int, event_set: str) -> None:
        self._supported(h, "xid_events")

    def nvmlEventSetWait(self, event_set: str, timeout_ms: int) -> SimpleNamespace:
        if not self.pending_xid:
            raise FakeNvmlError("Timeout")
        handle, xid = self.pending_xid.pop(0)
        return SimpleNamespace(device=handle, eventType=self.nvmlEventTypeXidCriticalError, eventData=xid)

    def nvmlEventSetFree(self, event_set: str) -> None:
        pass


def load_pynvml() -> Any:
    """The real NVML binding (nvidia-ml-py's ``pynvml``), or a one-line error without it."""
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        raise CollectorUnavailable("the NVML binding is not installed (pip install nvidia-ml-py)") from None
    return pynvml
