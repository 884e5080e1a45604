"""The benchmarks' machine line names the CPU and the int8 instructions it has."""

import pytest

from tests.bench.machine import describe

pytestmark = pytest.mark.unit


def test_describe_names_the_cpu_and_its_int8_instructions(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(
        "processor\t: 0\nmodel name\t: Some Xeon\nflags\t\t: fpu avx2 avx512_vnni amx_int8\n\n"
        "processor\t: 1\nmodel name\t: Some Xeon\nflags\t\t: fpu avx2 avx512_vnni amx_int8\n"
    )
    line = describe(info)
    assert line.startswith("Some Xeon, ") and line.endswith("amx_int8 avx512_vnni avx2")


def test_describe_without_cpuinfo_says_so(tmp_path):
    assert describe(tmp_path / "missing").startswith("unknown CPU, ")
