"""What a benchmark ran on, for its header: the CPU's name, its cores and the int8 / bf16
instructions the matmul kernels can use. Ratios between machines are not comparable: on a CPU
with AMX a big int8 batch is several times cheaper per row than on one with only VNNI."""

from __future__ import annotations

import os
from pathlib import Path

FEATURES = ("amx_int8", "amx_bf16", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx2")


def describe(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    name, flags = "unknown CPU", set()
    try:
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and name == "unknown CPU":
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    found = [f for f in FEATURES if f in flags]
    return f"{name}, {os.cpu_count()} cores, {' '.join(found) or 'no int8/bf16 extensions'}"
