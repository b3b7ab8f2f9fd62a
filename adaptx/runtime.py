"""Where and how a run computes: device, the frozen base's dtype, processes, memory.

One `Runtime` per run. A single process uses the device the config names (`auto` takes a
GPU when there is one). Launched by `accelerate launch` or `torchrun` with several
processes, the run is data-parallel through accelerate (DDP): each process takes its share
of every batch and of every evaluation, and only the main process writes files.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, field

import torch

from .errors import AdaptxError
from .hugepages import huge_pages_setting
from .kernels import cpu_flags, kernels

DTYPES = ("fp32", "bf16", "fp16", "auto")
_TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def relevant_cpu_flags() -> list[str]:
    """The flags that decide CPU speed in bf16 (reported with every timing)."""
    return sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})


def load_average() -> list[float] | None:
    """The machine's 1, 5 and 15-minute load averages (None where the OS does not say)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def distributed_world() -> int:
    """Processes launched together (accelerate launch / torchrun set WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def resolve_device(spec: str) -> torch.device:
    """`auto` | `cpu` | `cuda` | `cuda:N`, checked against this machine."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise AdaptxError(f"device: {spec!r}, but this machine has no CUDA GPU (or this torch is a CPU build); "
                              "use device: auto or cpu")
        index = spec.split(":", 1)[1] if ":" in spec else "0"
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise AdaptxError(f"device: {spec!r}, but this machine has {torch.cuda.device_count()} GPU(s) "
                              f"(cuda:0 to cuda:{torch.cuda.device_count() - 1})")
        return torch.device(f"cuda:{index}")
    raise AdaptxError(f"device: {spec!r}; expected auto, cpu, cuda or cuda:N")


def bf16_support(device: torch.device) -> tuple[bool, str]:
    """(native bf16?, why). CPUs need avx512_bf16 or AMX: with only avx512_core, torch reports bf16
    support but the hardware emulates it, many times slower than fp32."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        if torch.cuda.is_bf16_supported():
            return True, f"CUDA device {name} supports bf16"
        return False, f"CUDA device {name} has no native bf16"
    flags = cpu_flags()
    native = sorted(flags & {"avx512_bf16", "amx_bf16"})
    if native:
        return True, f"CPU flag {' and '.join(native)}"
    if not flags:
        return False, "CPU flags unreadable (no /proc/cpuinfo); bf16 not assumed"
    return False, "CPU has no avx512_bf16/amx_bf16 flag (bf16 would be emulated, slower than fp32)"


def resolve_dtype(spec: str, device: torch.device) -> tuple[str, str]:
    """(fp32 | bf16 | fp16, why) for the frozen base on `device`."""
    if spec not in DTYPES:
        raise AdaptxError(f"unknown base-model dtype {spec!r}; expected one of {', '.join(DTYPES)}")
    if spec == "fp16" and device.type != "cuda":
        raise AdaptxError("base_dtype: fp16 needs a CUDA GPU (fp16 on a CPU is slow and unscaled); use bf16 or fp32")
    if spec != "auto":
        return spec, "set in config"
    native, why = bf16_support(device)
    if native:
        return "bf16", f"auto: {why}"
    if device.type == "cuda":  # older GPUs: fp16 with loss scaling still halves memory
        return "fp16", f"auto: {why}; fp16 with loss scaling instead"
    return "fp32", f"auto: {why}"


@dataclass
class Runtime:
    device: torch.device
    dtype: str  # of the frozen base: fp32 | bf16 | fp16
    dtype_reason: str = ""
    accelerator: object = None  # accelerate.Accelerator when several processes run together
    extra: dict = field(default_factory=dict)

    @property
    def autocast_dtype(self):
        return None if self.dtype == "fp32" else _TORCH_DTYPES[self.dtype]

    @property
    def torch_dtype(self):
        return _TORCH_DTYPES[self.dtype]

    @property
    def needs_loss_scaling(self) -> bool:
        return self.dtype == "fp16"

    @property
    def world_size(self) -> int:
        return self.accelerator.num_processes if self.accelerator else 1

    @property
    def rank(self) -> int:
        return self.accelerator.process_index if self.accelerator else 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wait(self) -> None:
        """All processes meet here (after the main process wrote something the others read)."""
        if self.accelerator:
            self.accelerator.wait_for_everyone()

    def device_name(self) -> str:
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return f"cpu ({torch.get_num_threads()} threads)"

    def reset_peak_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_memory_gb(self) -> dict:
        """CUDA: peak allocated since the last reset. CPU: the process's peak RSS so far (it cannot
        be reset, so a later stage reports at least an earlier stage's peak)."""
        if self.device.type == "cuda":
            return {"kind": "cuda_max_allocated", "gb": round(torch.cuda.max_memory_allocated(self.device) / 2**30, 3)}
        return {"kind": "process_peak_rss", "gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)}

    def describe(self) -> dict:
        """Where and how a stage ran, for its metrics.json. The CPU threads and the machine's load
        average (1, 5, 15 minutes, when the stage ended) say whether its timings were measured alone:
        on 2 cores shared with other jobs, 2-thread steps measured 4-8x slower than 1-thread ones
        (docs/benchmarks.md)."""
        return {"device": self.device_name(), "device_type": self.device.type, "dtype": self.dtype,
                "dtype_reason": self.dtype_reason, "processes": self.world_size, "cpu_flags": relevant_cpu_flags(),
                "torch": torch.__version__, "huge_pages": huge_pages_setting(), "kernels": kernels(self.device),
                "cpu_threads": torch.get_num_threads(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                "load_average": load_average(), **self.extra}


def make_runtime(device_spec: str, dtype_spec: str) -> Runtime:
    """The run's runtime: several processes (accelerate) when launched so, else one on `device_spec`."""
    if distributed_world() > 1:
        from accelerate import Accelerator

        if device_spec.startswith("cuda:"):
            raise AdaptxError(f"device: {device_spec!r} names one GPU, but {distributed_world()} processes were "
                              "launched; use device: auto or cuda (each process takes its own GPU)")
        if device_spec == "cuda" and not torch.cuda.is_available():
            resolve_device(device_spec)  # the clear no-CUDA error
        accelerator = Accelerator(cpu=device_spec == "cpu" or not torch.cuda.is_available())
        device = accelerator.device
        dtype, why = resolve_dtype(dtype_spec, device)
        return Runtime(device, dtype, why, accelerator)
    device = resolve_device(device_spec)
    dtype, why = resolve_dtype(dtype_spec, device)
    return Runtime(device, dtype, why)
