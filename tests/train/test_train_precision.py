"""Which precision a run trains in: 'auto' and 'native' resolve by what the machine computes natively."""

from __future__ import annotations

import pytest

from egovla.train.config import cpu_computes_bf16, resolve_precision


@pytest.mark.parametrize("flags, native", [
    ("fpu sse2 avx2 fma", False),
    ("fpu avx512f avx512_bf16 avx512_vnni", True),
    ("fpu avx512f amx_bf16 amx_tile", True),
    ("fpu avx512_bf16x", False),  # a flag is a whole word
])
def test_the_cpu_computes_bf16_when_its_flags_name_avx512_bf16_or_amx(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert cpu_computes_bf16(cpuinfo) is native


def test_an_unreadable_cpuinfo_means_no_native_bf16(tmp_path):
    assert cpu_computes_bf16(tmp_path / "missing") is False


@pytest.mark.parametrize("precision, cuda, cpu_bf16, resolved", [
    ("auto", True, False, "bf16"),
    ("auto", False, True, "no"),  # 'auto' keeps float32 on every CPU
    ("auto", False, False, "no"),
    ("native", True, False, "bf16"),
    ("native", False, True, "bf16"),
    ("native", False, False, "no"),  # emulated bf16 would be many times slower than float32
    ("bf16", False, False, "bf16"),  # asked for, honoured
    ("no", True, True, "no"),
])
def test_auto_and_native_resolve_by_the_hardware_and_explicit_precisions_are_kept(precision, cuda, cpu_bf16, resolved):
    assert resolve_precision(precision, cuda=cuda, cpu_bf16=cpu_bf16) == resolved


def test_an_unknown_precision_is_named():
    with pytest.raises(ValueError, match="precision must be one of .*'fp8'"):
        resolve_precision("fp8")
