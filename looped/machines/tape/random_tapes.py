"""Random classic SUBLEQ tapes that modify their own code and do I/O, for the differential tests
(tests/machines/tape/test_tape_fuzz.py) and benchmarks/tape_fuzz.py. No JAX here.

A tape is a block of random instructions followed by data. Operand B points into the code
region often (the program rewrites its own instructions), A = -1 reads input and B = -1 writes
output; data values are small, so that rewritten addresses mostly stay inside the memory and the
tape runs long. `interesting_tapes` keeps only tapes that, on the oracle, run at least
`min_steps` instructions and within them read input, write output and rewrite a cell that is
fetched as an instruction.
"""

from __future__ import annotations

import numpy as np

from looped.machines.tape.program import TapeProgram, max_memory


def random_tape(rng: np.random.Generator, bits: int, size: int, input_len: int,
                output_capacity: int = 64) -> TapeProgram:
    """Random instructions, a jump back to 0 (so the data is not run as code unless the program
    rewrites that jump), then a quarter of the memory as data of small values."""
    M = min(size, max_memory(bits))
    n_data = max(2, M // 4)
    n_code = max(2, (M - n_data) // 3)
    code_end = 3 * n_code
    n_data = M - code_end
    data0 = code_end
    mem = [0] * M
    for j in range(data0, M):
        mem[j] = int(rng.integers(-3, 4))
    zero = data0 + int(rng.integers(0, n_data))
    mem[zero] = 0

    def data() -> int:
        return int(rng.integers(data0, M))

    def anywhere(code_bias: float) -> int:
        return int(rng.integers(0, code_end)) if rng.random() < code_bias else data()

    for k in range(n_code - 1):
        u = rng.random()
        if u < 0.18:
            a, b = -1, anywhere(0.3)
        elif u < 0.36:
            a, b = anywhere(0.3), -1
        else:
            a = data() if rng.random() < 0.85 else int(rng.integers(0, M))
            b = anywhere(0.5)
        if rng.random() < 0.004:  # now and then an address outside the memory: a fault
            a = int(rng.choice([M, M + 7, -2, -(1 << (bits - 1))]))
        c = int(rng.integers(0, n_code)) * 3 if rng.random() < 0.9 else int(rng.integers(0, M - 2))
        if rng.random() < 0.005:
            c = int(rng.choice([-1, M, M - 2]))  # a halting jump
        mem[3 * k : 3 * k + 3] = [a, b, c]
    mem[code_end - 3 : code_end] = [zero, zero, 0]  # always jumps back to 0
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    mem = [min(max(v, low), high) for v in mem]
    data_in = bytes(int(x) for x in rng.integers(0, 256, size=input_len))
    return TapeProgram(memory=tuple(mem), bits=bits, input=data_in, file="<random>", output_capacity=output_capacity)


def qualities(tape: TapeProgram, steps: int) -> dict:
    """What the oracle sees in the first `steps` instructions: steps run, inputs, outputs, and
    writes into cells that are fetched as instructions (before or after the write)."""
    from looped.machines.tape import oracle as tape_oracle

    state = tape_oracle.start(tape.memory, tape.bits)
    fetched, written = set(), set()
    inputs = outputs = 0
    while state.status == "running" and state.steps < steps:
        ip = state.ip
        fetched.update((ip, ip + 1, ip + 2))
        a, b = state.memory[ip], state.memory[ip + 1]
        before_out = len(state.output)
        before_in = state.input_pos
        tape_oracle.step(state, tape.bits, tape.input)
        if state.status == "fault":
            break
        if a == -1:
            inputs += 1
            written.add(b)
        elif b == -1:
            outputs += len(state.output) - before_out
        else:
            written.add(b)
        del before_in
    return {"steps": state.steps, "status": state.status, "inputs": inputs, "outputs": outputs,
            "self_modifying": bool(written & fetched)}


def interesting_tapes(seed: int, count: int, bits: int, min_steps: int = 200, sizes=(24, 96),
                      input_len=(0, 12), output_capacity: int = 64) -> list[TapeProgram]:
    """`count` random tapes that run >= min_steps instructions on the oracle and, within them, read
    input, write output and modify their own code (a fault or halt after min_steps is allowed)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        size = int(rng.integers(sizes[0], sizes[1] + 1))
        tape = random_tape(rng, bits, size, int(rng.integers(input_len[0], input_len[1] + 1)), output_capacity)
        q = qualities(tape, min_steps)
        if q["steps"] >= min_steps and q["inputs"] and q["outputs"] and q["self_modifying"]:
            out.append(tape)
    return out
