"""The loop runner's parts, which looped/runner.py puts together as `Loop` (imported from there):

* state.py: what a run carries between chunks (`LoopState`), the health bound and its error;
* traced.py: the traced functions: one step of a batch, the chunk loop, open-loop-close (`go`), trace;
* lanes.py: one call of `Loop.run`: slots refilled and compacted, lanes on the CPU's cores, the
  tail pool run on the one-card loop;
* costs.py: what compiling a batch shape has cost in this process (the lanes' compile budget).
"""
