"""looped: a looped transformer with hand-set weights that executes SUBLEQ punch-card programs.

    from looped.assembler import assemble_file
    from looped import engine

    results = engine.run([assemble_file("programs/gcd.asm")])
    print(results[0].outputs)

See README.md for the machine, docs/language.md for the assembly language.
"""

__version__ = "0.1.0"
