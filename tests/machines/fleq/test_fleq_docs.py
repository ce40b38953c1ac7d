"""Every `asm` example in docs/fleq.md assembles and runs on the transformer to what the oracle
computes (same steps, values within the function blocks' error). They run as one batch: programs
of different shapes share the machine of the largest."""

import re
from pathlib import Path

import numpy as np

from looped import engine
from looped.machines.fleq import oracle as fleq_oracle
from looped.assembler import assemble

DOC = Path(__file__).resolve().parents[3] / "docs" / "fleq.md"
EXAMPLES = re.findall(r"```asm\n(.*?)```", DOC.read_text(), flags=re.S)


def test_every_example_runs_on_the_transformer_like_the_oracle():
    assert len(EXAMPLES) >= 4
    programs = [assemble(text, f"docs/fleq.md example {i + 1}") for i, text in enumerate(EXAMPLES)]
    results = engine.run(programs, backend="fast", max_steps=10_000)
    for program, result in zip(programs, results):
        expected = fleq_oracle.run(program, max_steps=10_000)
        assert result.status == "halted" and expected.halted, program.file
        assert result.steps == expected.steps, program.file
        for name, value in program.outputs(expected.memory).items():
            np.testing.assert_allclose(np.array(result.outputs[name]), np.array(value), rtol=1e-5, atol=1e-9,
                                       err_msg=f"{program.file}: {name}")
