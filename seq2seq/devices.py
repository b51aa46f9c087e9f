"""Where a model runs and in which number format: device names and precisions, resolved once.

Devices: "auto" (the CUDA GPU when one is visible, else the CPU), "cpu", "cuda", "cuda:N", "mps".
Precisions: "fp32"; "bf16" and "fp16" (matrix products in 16 bits, master weights, optimiser
state and the loss's log-softmax in float32); "auto" picks bf16 on a GPU that supports it, fp16
on an older GPU, bf16 on a CPU with bfloat16 matrix instructions (AMX or AVX512-BF16), else fp32,
so that `auto` is never slower than fp32 on a CPU without them.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from seq2seq.errors import UserError

if TYPE_CHECKING:  # torch is imported where a device is resolved: config checks and prepare need no torch
    import torch

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DEVICE_NAME = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of bfloat16 matrix instructions


def dtype_of(precision: str) -> torch.dtype:
    """The torch dtype of a concrete precision ("fp32", "bf16", "fp16")."""
    import torch
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def check_device_name(name: str, key: str) -> None:
    """A one-line error unless `name` is a device name this module resolves (no hardware check)."""
    if not DEVICE_NAME.fullmatch(name):
        raise UserError(f"{key} {name!r} is not a device: use auto, cpu, cuda, cuda:N or mps")


def resolve_device(name: str | torch.device | None, key: str = "device") -> torch.device:
    """The torch device for a name; asking for hardware this machine lacks is a one-line error."""
    import torch
    if isinstance(name, torch.device):
        name = str(name)
    name = name or "auto"
    check_device_name(name, key)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"{key} {name!r}: this machine has no CUDA GPU that torch can use "
                            "(torch.cuda.is_available() is False); use cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"{key} {name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                            f"numbered from 0; use cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"{key} {name!r}: Apple's MPS backend is not available here; use cpu or auto")
    return device


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_bf16_units() -> list[str]:
    """Which bfloat16 matrix instructions this CPU has (e.g. ["avx512_bf16"]); [] when none."""
    return [flag for flag in CPU_BF16_FLAGS if flag in cpu_flags()]


def resolve_precision(name: str, device: torch.device, key: str = "precision") -> Precision:
    """The concrete precision for a name on a device; bf16/fp16 where they cannot run is an error."""
    import torch
    if name not in PRECISIONS:
        raise UserError(f"{key} {name!r}: use one of {', '.join(PRECISIONS)}")
    if device.type == "cuda":
        bf16_ok = torch.cuda.is_bf16_supported()
        if name == "auto":
            return "bf16" if bf16_ok else "fp16"
        if name == "bf16" and not bf16_ok:
            raise UserError(f"{key} bf16: this GPU has no bfloat16 support; use fp16")
        return name  # type: ignore[return-value]
    if name == "auto":
        return "bf16" if device.type == "cpu" and cpu_bf16_units() else "fp32"
    return name  # type: ignore[return-value]


def describe(device: torch.device, precision: str) -> str:
    """One line for logs: the device, the precision and, on a CPU, its bf16 units."""
    import torch
    if device.type == "cpu":
        units = ", ".join(cpu_bf16_units()) or "none"
        return f"{precision} on cpu (bfloat16 matrix units: {units})"
    if device.type == "cuda":
        return f"{precision} on {device} ({torch.cuda.get_device_name(device)})"
    return f"{precision} on {device}"
