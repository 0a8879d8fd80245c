"""Metric names and where they go.

One table of DCGM fields keyed by numeric id (the short names ``dcgmi dmon`` prints, the
classic and renamed C macros dcgm-exporter uses as metric names), plus the dcgm-exporter 1.x
names and the nvidia_gpu_exporter (``nvidia_smi_*``) names. Each known metric fills one
``gpu_samples`` column, with a scale into that column's unit; every other metric is kept in the
row's ``extra`` JSON under its own name.

Sources: NVIDIA/DCGM ``dcgmlib/dcgm_fields.h`` (ids and short names), dcgm-exporter
``etc/1.x-compatibility-metrics.csv`` and ``etc/default-counters.csv``, utkuozdemir/
nvidia_gpu_exporter metric naming. Blog tables of field ids are often wrong; these follow the
header file.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024.0 * 1024.0


@dataclass(frozen=True)
class DcgmField:
    field_id: int
    short: str  # the dmon column header
    macro: str  # DCGM_FI_... as dcgm-exporter names the metric
    column: str | None = None  # the gpu_samples column, or None (kept in extra)
    scale: float = 1.0
    aliases: tuple[str, ...] = ()  # renamed macros (DCGM 4.6 naming standard) and 1.x exporter names
    text: bool = False  # a string field (names, UUIDs)


DCGM_FIELDS: tuple[DcgmField, ...] = (
    DcgmField(50, "DVNAM", "DCGM_FI_DEV_NAME", text=True),
    DcgmField(51, "DVBRN", "DCGM_FI_DEV_BRAND", text=True),
    DcgmField(52, "NVIDX", "DCGM_FI_DEV_NVML_INDEX"),
    DcgmField(53, "SRNUM", "DCGM_FI_DEV_SERIAL", text=True),
    DcgmField(54, "UUID#", "DCGM_FI_DEV_UUID", text=True),
    DcgmField(55, "MNNUM", "DCGM_FI_DEV_MINOR_NUMBER"),
    DcgmField(57, "PCBID", "DCGM_FI_DEV_PCI_BUSID", text=True),
    DcgmField(100, "SMCLK", "DCGM_FI_DEV_SM_CLOCK", "sm_clock_mhz", aliases=("dcgm_sm_clock",)),
    DcgmField(101, "MMCLK", "DCGM_FI_DEV_MEM_CLOCK", aliases=("dcgm_memory_clock",)),
    DcgmField(102, "VICLK", "DCGM_FI_DEV_VIDEO_CLOCK"),
    DcgmField(112, "DVCCTR", "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
              aliases=("DCGM_FI_DEV_CLOCK_THROTTLE_REASONS",)),
    DcgmField(140, "MMTMP", "DCGM_FI_DEV_MEMORY_TEMP", aliases=("dcgm_memory_temp",)),
    DcgmField(150, "TMPTR", "DCGM_FI_DEV_GPU_TEMP", "temp_c", aliases=("dcgm_gpu_temp",)),
    DcgmField(155, "POWER", "DCGM_FI_DEV_POWER_USAGE", "power_w",
              aliases=("DCGM_FI_DEV_BOARD_POWER_WATTS", "dcgm_power_usage")),
    DcgmField(156, "TOTEC", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", aliases=("dcgm_total_energy_consumption",)),
    DcgmField(160, "PMLMT", "DCGM_FI_DEV_POWER_MGMT_LIMIT"),
    DcgmField(190, "PSTAT", "DCGM_FI_DEV_PSTATE"),
    DcgmField(200, "TXTPT", "DCGM_FI_DEV_PCIE_TX_THROUGHPUT", aliases=("dcgm_pcie_tx_throughput",)),
    DcgmField(201, "RXTPT", "DCGM_FI_DEV_PCIE_RX_THROUGHPUT", aliases=("dcgm_pcie_rx_throughput",)),
    DcgmField(202, "RPCTR", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", aliases=("dcgm_pcie_replay_counter",)),
    DcgmField(203, "GPUTL", "DCGM_FI_DEV_GPU_UTIL", "util",
              aliases=("DCGM_FI_DEV_GPU_UTIL_RATIO", "dcgm_gpu_utilization")),
    DcgmField(204, "MCUTL", "DCGM_FI_DEV_MEM_COPY_UTIL", "mem_util", aliases=("dcgm_mem_copy_utilization",)),
    DcgmField(206, "ECUTL", "DCGM_FI_DEV_ENC_UTIL", aliases=("dcgm_enc_utilization",)),
    DcgmField(207, "DCUTL", "DCGM_FI_DEV_DEC_UTIL", aliases=("dcgm_dec_utilization",)),
    DcgmField(230, "XIDER", "DCGM_FI_DEV_XID_ERRORS", aliases=("DCGM_FI_DEV_XID_ERROR", "dcgm_xid_errors")),
    DcgmField(250, "FBTTL", "DCGM_FI_DEV_FB_TOTAL"),
    DcgmField(251, "FBFRE", "DCGM_FI_DEV_FB_FREE", aliases=("dcgm_fb_free",)),
    DcgmField(252, "FBUSD", "DCGM_FI_DEV_FB_USED", "fb_used_mib", aliases=("dcgm_fb_used",)),
    DcgmField(253, "FBRSV", "DCGM_FI_DEV_FB_RESERVED"),
    DcgmField(254, "FBUSP", "DCGM_FI_DEV_FB_USED_PERCENT"),
    DcgmField(310, "ESVTL", "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", aliases=("dcgm_ecc_sbe_volatile_total",)),
    DcgmField(311, "EDVTL", "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", aliases=("dcgm_ecc_dbe_volatile_total",)),
    DcgmField(312, "ESATL", "DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", aliases=("dcgm_ecc_sbe_aggregate_total",)),
    DcgmField(313, "EDATL", "DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", aliases=("dcgm_ecc_dbe_aggregate_total",)),
    DcgmField(449, "NVLBW", "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", aliases=("dcgm_nvlink_bandwidth_total",)),
    DcgmField(1001, "GRACT", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gr_engine_active"),
    DcgmField(1002, "SMACT", "DCGM_FI_PROF_SM_ACTIVE", "sm_active"),
    DcgmField(1003, "SMOCC", "DCGM_FI_PROF_SM_OCCUPANCY"),
    DcgmField(1004, "TENSO", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "tensor_active"),
    DcgmField(1005, "DRAMA", "DCGM_FI_PROF_DRAM_ACTIVE", "dram_active"),
    DcgmField(1006, "FP64A", "DCGM_FI_PROF_PIPE_FP64_ACTIVE"),
    DcgmField(1007, "FP32A", "DCGM_FI_PROF_PIPE_FP32_ACTIVE"),
    DcgmField(1008, "FP16A", "DCGM_FI_PROF_PIPE_FP16_ACTIVE"),
    DcgmField(1009, "PCITX", "DCGM_FI_PROF_PCIE_TX_BYTES"),
    DcgmField(1010, "PCIRX", "DCGM_FI_PROF_PCIE_RX_BYTES"),
    DcgmField(1011, "NVLTX", "DCGM_FI_PROF_NVLINK_TX_BYTES"),
    DcgmField(1012, "NVLRX", "DCGM_FI_PROF_NVLINK_RX_BYTES"),
)

FIELDS_BY_ID = {f.field_id: f for f in DCGM_FIELDS}
FIELDS_BY_SHORT = {f.short.upper(): f for f in DCGM_FIELDS}

# nvidia_gpu_exporter (utkuozdemir) names: nvidia-smi fields in base units (ratios, bytes, Hz).
NVIDIA_SMI_EXPORTER = {
    "nvidia_smi_utilization_gpu_ratio": ("util", 100.0),
    "nvidia_smi_utilization_memory_ratio": ("mem_util", 100.0),
    "nvidia_smi_memory_used_bytes": ("fb_used_mib", 1.0 / MIB),
    "nvidia_smi_power_draw_watts": ("power_w", 1.0),
    "nvidia_smi_temperature_gpu": ("temp_c", 1.0),
    "nvidia_smi_clocks_current_sm_clock_hz": ("sm_clock_mhz", 1e-6),
}

# Per-process metrics (series with a pid label): column in gpu_processes and scale.
PROCESS_METRICS = {
    "nvidia_smi_compute_app_used_memory_bytes": ("used_mib", 1.0 / MIB),
}


def metric_map() -> list[tuple[str, str, float]]:
    """(METRIC NAME upper-cased, gpu_samples column, scale) for every metric that fills a column."""
    rows: list[tuple[str, str, float]] = []
    for field in DCGM_FIELDS:
        if field.column is None:
            continue
        for name in (field.macro, *field.aliases):
            rows.append((name.upper(), field.column, field.scale))
    for name, (column, scale) in NVIDIA_SMI_EXPORTER.items():
        rows.append((name.upper(), column, scale))
    return rows


# nvidia-smi --query-gpu fields (header names without units, lower-cased) -> gpu_samples column.
# For power, the first field present wins (power.draw is the 1-second average on Ampere+).
SMI_QUERY_GPU = {
    "index": "gpu_index",
    "uuid": "gpu_uuid",
    "pci.bus_id": "pci_bus_id",
    "name": "gpu_model",
    "gpu_name": "gpu_model",
    "utilization.gpu": "util",
    "utilization.memory": "mem_util",
    "memory.used": "fb_used_mib",
    "power.draw": "power_w",
    "power.draw.average": "power_w",
    "power.draw.instant": "power_w",
    "temperature.gpu": "temp_c",
    "clocks.current.sm": "sm_clock_mhz",
    "clocks.sm": "sm_clock_mhz",
}

# The values detections and links read; every other value stays in the row's extra JSON under the
# name its source gives it (a wide table of mostly empty columns costs ingest time at scale).
NUMERIC_SAMPLE_COLUMNS = (
    "util", "mem_util", "gr_engine_active", "sm_active", "tensor_active", "dram_active",
    "fb_used_mib", "power_w", "temp_c", "sm_clock_mhz",
)
