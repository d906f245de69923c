"""bench.host.cpuinfo (the CPU's speed-deciding ISA flags and identity) and where they are recorded."""

from __future__ import annotations

from bench.host import cpuinfo, envinfo, machine

EMERALD_RAPIDS_VM = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 207
model name\t: Intel(R) Xeon(R) Processor
stepping\t: 2
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma avx2 avx512f avx512dq avx512cd avx512bw avx512vl \
avx_vnni avx512_bf16 avx512_vnni avx512_fp16 gfni vaes

processor\t: 1
vendor_id\t: GenuineIntel
flags\t\t: fpu sse
"""
SAPPHIRE_RAPIDS = EMERALD_RAPIDS_VM.replace("vaes", "vaes amx_bf16 amx_tile amx_int8").replace(
    " avx512_bf16", "")
ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 33
model name\t: AMD Ryzen 9 5950X 16-Core Processor
stepping\t: 0
flags\t\t: fpu sse sse2 avx fma f16c avx2 sha_ni
"""
GRAVITON3 = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm sve bf16 i8mm
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x1
CPU part\t: 0xd40
"""


def test_isa_flags_keep_the_speed_deciding_extensions_sorted() -> None:
    flags = cpuinfo.isa_flags(EMERALD_RAPIDS_VM)
    assert flags == tuple(sorted(flags))
    assert {"avx", "avx2", "fma", "f16c", "avx512f", "avx512_bf16", "avx_vnni", "avx512_fp16"} <= set(flags)
    assert not {"fpu", "sse2", "sse4_2", "gfni", "vaes"} & set(flags)  # not what decides matmul speed
    assert cpuinfo.isa_flags(ZEN3) == ("avx", "avx2", "f16c", "fma")
    assert {"asimd", "sve", "bf16", "i8mm"} <= set(cpuinfo.isa_flags(GRAVITON3))
    assert cpuinfo.isa_flags("") == ()


def test_bf16_support_means_avx512_bf16_or_amx_bf16() -> None:
    assert cpuinfo.cpu_supports_bf16(EMERALD_RAPIDS_VM)
    assert {"amx_bf16", "amx_tile", "amx_int8"} <= set(cpuinfo.isa_flags(SAPPHIRE_RAPIDS))
    assert cpuinfo.cpu_supports_bf16(SAPPHIRE_RAPIDS)
    assert not cpuinfo.cpu_supports_bf16(ZEN3)
    assert not cpuinfo.cpu_supports_bf16("")


def test_cpu_identity() -> None:
    assert cpuinfo.cpu_identity(EMERALD_RAPIDS_VM) == {
        "vendor": "GenuineIntel", "family": 6, "model": 207, "stepping": 2,
        "model_name": "Intel(R) Xeon(R) Processor"}
    assert cpuinfo.cpu_identity(ZEN3)["family"] == 25
    arm = cpuinfo.cpu_identity(GRAVITON3)
    assert arm["vendor"] == "0x41" and arm["model"] == 0xD40
    assert set(cpuinfo.cpu_identity("")) == {"vendor", "family", "model", "stepping", "model_name"}


def test_this_machine_answers_without_raising() -> None:
    flags = cpuinfo.isa_flags()
    assert isinstance(flags, tuple) and all(isinstance(f, str) for f in flags)
    assert cpuinfo.cpu_supports_bf16() == bool({"avx512_bf16", "amx_bf16"} & set(flags))


def test_environment_records_the_isa_and_bench_env_prints_it() -> None:
    env = envinfo.collect_environment({})
    cpu = env["cpu"]
    assert cpu["isa_flags"] == list(cpuinfo.isa_flags())
    assert cpu["supports_bf16"] == cpuinfo.cpu_supports_bf16()
    assert set(cpu["identity"]) == {"vendor", "family", "model", "stepping", "model_name"}
    text = envinfo.format_environment(env)
    assert "cpu isa" in text and "cpu bf16" in text and "cpu id" in text


def test_the_fingerprint_hashes_the_isa_and_cpu_identity() -> None:
    m = machine.this_machine()
    fields = m["fingerprint"]["fields"]
    assert fields["isa_flags"] == sorted(m["cpu"]["isa_flags"])
    assert {"cpu_vendor", "cpu_family", "cpu_model_number", "cpu_stepping"} <= set(fields)
    cpu = dict(m["cpu"], isa_flags=["avx"])
    assert machine.fingerprint_of(cpu, m["memory"], m["gpu"])["hash"] != m["fingerprint"]["hash"]
    cpu = dict(m["cpu"], identity={**m["cpu"]["identity"], "stepping": 99})
    assert machine.fingerprint_of(cpu, m["memory"], m["gpu"])["hash"] != m["fingerprint"]["hash"]
