"""Which compute kernels produced a number: the device, the dtype and, on a CPU, the instruction set
oneDNN and ATen ran with.

Two machines with the same weights, rows and dtype can still differ in the last bits: oneDNN's
AVX512-BF16, AMX and (emulated) AVX2 bf16 kernels sum products in different orders, and a near-tie
prediction flips. A score that is compared across machines (a zoo card's English dev score) is
therefore stored with the kernels that produced it, and compared exactly only against the same
kernels (adaptx.zoo_rescore).
"""

from __future__ import annotations

import os

import torch


def cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# oneDNN's CPU instruction-set levels, lowest first (its ONEDNN_MAX_CPU_ISA names)
ONEDNN_LEVELS = ("SSE41", "AVX", "AVX2", "AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16", "AVX512_CORE_AMX")
# what every card published before kernels were recorded was scored with (2-core CPUs with avx512_bf16)
LEGACY_CARD_KERNELS = {"device": "cpu", "onednn_isa": "AVX512_CORE_BF16"}


def _hardware_onednn_level(flags: set[str]) -> str:
    if "amx_bf16" in flags:
        return "AVX512_CORE_AMX"
    if "avx512_bf16" in flags:
        return "AVX512_CORE_BF16"
    if "avx512_vnni" in flags:
        return "AVX512_CORE_VNNI"
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "AVX512_CORE"
    for flag, level in (("avx2", "AVX2"), ("avx", "AVX"), ("sse4_1", "SSE41")):
        if flag in flags:
            return level
    return "unknown"


def onednn_isa(flags: set[str] | None = None, cap: str | None = None) -> str:
    """The highest instruction set oneDNN uses here: the CPU's, lowered by ONEDNN_MAX_CPU_ISA when
    that names a lower level (oneDNN reads it once, when torch loads)."""
    level = _hardware_onednn_level(cpu_flags() if flags is None else flags)
    cap = (os.environ.get("ONEDNN_MAX_CPU_ISA") if cap is None else cap) or ""
    cap = cap.strip().upper()
    if level in ONEDNN_LEVELS and cap in ONEDNN_LEVELS and ONEDNN_LEVELS.index(cap) < ONEDNN_LEVELS.index(level):
        return cap
    return level


def kernels(device: torch.device) -> dict:
    """The kernels a number computed on `device` came from (JSON-ready, compared with ==)."""
    if device.type == "cuda":
        return {"device": "cuda", "gpu": torch.cuda.get_device_name(device)}
    if device.type != "cpu":
        return {"device": device.type}
    return {"device": "cpu", "onednn_isa": onednn_isa(), "aten": torch.backends.cpu.get_cpu_capability()}


def describe_kernels(found: dict) -> str:
    """One phrase: 'cpu, oneDNN AVX2, ATen AVX2' or 'cuda, NVIDIA H100'."""
    if found.get("device") == "cpu":
        return f"cpu, oneDNN {found.get('onednn_isa', '?')}" + (f", ATen {found['aten']}" if "aten" in found else "")
    return ", ".join(str(v) for v in found.values())


def same_kernels(a: dict, b: dict) -> bool:
    """Whether two kernel records name the same kernels, on every key both record (a card published
    before ATen's level was recorded names oneDNN's alone)."""
    shared = set(a) & set(b)
    return "device" in shared and all(a[k] == b[k] for k in shared)
