"""The accelerator path, checked without an accelerator: every backend that can run on a GPU
lowers the runner's loop (looped/runner.py's `go`, one card and a batch) for CUDA on this CPU
(jax.export with platforms=("cuda",)), for SUBLEQ, FLEQ and tape machines; the Pallas kernels
lower through Triton (no interpreter), the XLA backends to plain StableHLO with no custom call.
The native backend is the CPU's own code (XLA FFI targets registered for the CPU) and is never
offered on an accelerator."""

import re

import jax
import jax.numpy as jnp
import pytest

import kernels
from kernels import pallas
from looped import engine
from looped import machines as instruction_sets
from looped.runner import Loop

TRITON = "__gpu$xla.gpu.triton"
GPU_BACKENDS = [b for b in kernels.BACKENDS if b != "native"]


def _machine(isa: str):
    """A small machine of each instruction set: (machine, its loop's pc token and rows, width)."""
    if isa == "subleq":
        key = (32, 8)
    else:
        program = {"fleq": "programs/fleq/calculator.asm", "tape": None}[isa]
        if isa == "tape":
            from looped.machines.tape.program import TapeProgram

            programs = [TapeProgram(memory=(3, 4, 0, 0, 0, 1), bits=16, file="<tape>")]
        else:
            from looped.assembler import assemble_file

            programs = [assemble_file(program)]
        key = instruction_sets.get(isa).machine_key(programs, None)
    machine, loop = engine.machine_loop(isa, key, "fast")
    return machine, loop


def _lower_for_cuda(isa: str, backend: str, batch: int) -> str:
    """The StableHLO text of the loop's `go` for a batch of `batch` cards, lowered for CUDA."""
    machine, template = _machine(isa)
    with pallas.lowering_for("cuda"):  # (the Pallas kernels are traced for the GPU: Triton)
        step = kernels.make_step(backend, machine.stack, machine.lam, machine.dtype)
        loop = Loop(step, pc_token=template.pc_token, pc_rows=template.pc_rows, width=template.width)
        spec, i32 = jax.ShapeDtypeStruct, jnp.int32
        shape = (batch, machine.layout.n, machine.layout.d)
        args = (spec(shape, machine.dtype), spec((batch,), i32), spec((batch,), i32), spec((batch,), machine.dtype),
                spec((batch,), i32), *[spec((), i32)] * 3)
        checks = [jax.export.DisabledSafetyCheck.custom_call(TRITON)]  # (Triton calls carry no stability promise)
        exported = jax.export.export(loop._functions()["go"], platforms=("cuda",), disabled_checks=checks)(*args)
    assert exported.platforms == ("cuda",)
    return exported.mlir_module()


def _custom_calls(text: str) -> set:
    return set(re.findall(r"stablehlo\.custom_call @([^\s(]+)", text)) | set(
        re.findall(r'call_target_name = "([^"]+)"', text))


@pytest.mark.parametrize("backend", GPU_BACKENDS)
@pytest.mark.parametrize("batch", [1, 8])
def test_subleq_loop_lowers_for_cuda(backend, batch):
    calls = _custom_calls(_lower_for_cuda("subleq", backend, batch))
    if backend == "pallas":
        assert calls == {TRITON}  # both kernels compiled by Triton: nothing left to interpret
    else:
        assert calls == set()


@pytest.mark.parametrize("isa", ["fleq", "tape"])
def test_other_machines_loops_lower_for_cuda(isa):
    for batch in (1, 8):
        text = _lower_for_cuda(isa, "fast", batch)
        assert _custom_calls(text) == set()
        if isa == "fleq":  # real values: kernels/invariant.py, no dot (XLA picks a dot's blocking by shape)
            assert "stablehlo.dot" not in text


def test_pallas_lowers_for_the_gpu_only_inside_lowering_for():
    assert pallas.interpret_mode() == (jax.default_backend() == "cpu")
    with pallas.lowering_for("cuda"):
        assert not pallas.interpret_mode()
    assert pallas.interpret_mode() == (jax.default_backend() == "cpu")


def test_native_is_offered_on_the_cpu_only():
    from kernels import native

    if jax.default_backend() != "cpu":
        assert not native.available()
    assert "native" not in GPU_BACKENDS
