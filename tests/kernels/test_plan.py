"""The kernel plan (kernels/plan.py) without JAX: it imports none, it evaluates one instruction
(`Plan.apply`, NumPy) as the layer formula does on the states of real programs of every
instruction set, and its structure helpers find what they claim on hand-made weights. And the
kernels' imports run one way (no cycle)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np

from kernels.plan import (SELECTED_GROUP_WORK, SPARSE_TERMS, HeadPlan, MLPPlan, Plan, linear_pairs,
                          part_groups, rowwise_features, runs, sort_units, sparse_terms, spans, unit_rows)
from looped import machines as isa
from looped.assembler import assemble_file
from looped.blocks import CORRECTION_TOLERANCE
from looped.layers import MLP, Head, Layer, Stack, Units
from looped.machines.tape.program import load_tape

ROOT = Path(__file__).resolve().parents[2]
KERNELS = ROOT / "kernels"


# ---- no JAX, no import cycle ------------------------------------------------------------------------


def test_the_plan_imports_no_jax():
    """In a fresh interpreter: importing the plan, building a SUBLEQ card and a machine's plan and
    executing an instruction with it leave JAX unimported."""
    code = """
import sys
import kernels.plan as plan
assert "jax" not in sys.modules, "import kernels.plan imported jax"
from looped import machines as isa
from looped.assembler import assemble_file
program = assemble_file("programs/gcd.asm")
iset = isa.of([program])
key = iset.machine_key([program], None)
layout = iset.layout(key)
p = plan.Plan.of(iset.stack(layout))
_, X = iset.encode([program], key)
X1, health = p.apply(X[0], iset.inverse_temperature(layout))
assert X1.shape == X[0].shape and health < 0.25
assert "jax" not in sys.modules, sorted(m for m in sys.modules if m.startswith("jax"))
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def kernel_imports() -> dict[str, set[str]]:
    """Module -> the kernels modules it imports (anywhere in the file, lazy imports included),
    for every kernels/**/*.py."""
    modules = {}
    for path in sorted(KERNELS.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path

    def resolve(name: str) -> str | None:
        """The kernels module `name` names (or the nearest enclosing one)."""
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                names = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for name in names:
                if name == "kernels" or name.startswith("kernels."):
                    target = resolve(name)
                    # `from kernels import x` names the submodule x; the package itself (its
                    # __init__, which imports no submodule statically) is not an edge
                    if target and target != module and target != "kernels":
                        edges.add(target)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path + [node, nxt]
            if nxt not in state:
                cycle = visit(nxt, path + [node])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node, [])
            if cycle:
                return cycle
    return None


def test_kernel_imports_are_acyclic():
    graph = kernel_imports()
    assert {"kernels.plan", "kernels.common", "kernels.fast", "kernels.batched", "kernels.pallas"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    assert graph["kernels.plan"] == set()
    assert graph["kernels.common"] == {"kernels.plan", "kernels.settings"}
    assert graph["kernels.settings"] == set()  # (read before JAX starts: it imports nothing of ours)
    assert "kernels.fast" not in graph["kernels.batched"]


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_plan_module_imports_only_numpy_and_the_standard_library():
    tree = ast.parse((KERNELS / "plan.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "dataclasses", "numpy", "typing", "functools", "itertools", "math"}, imported


# ---- Plan.apply against the layer formula, on real programs ----------------------------------------


def formula(stack: Stack, X: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """One instruction by the layer formula (looped/layers.py), float64 NumPy, every token a query:

        A  = X + sum_h softmax(lam * (X @ wq) @ (X @ wk).T) @ (X @ wv)
        X' = A + relu(A @ w1 + b1) @ w2 + b2

    and the health figure on the health layer's input."""
    rows = np.asarray(stack.corrected_rows, int)
    health = 0.0
    for i, lay in enumerate(stack.layers):
        if i == stack.health_layer:
            v = X[:, rows]
            health = float(np.max(np.abs(v - np.clip(np.round(v), -1, 1)), initial=0.0))
        A = X.copy()
        for h in lay.heads:
            scores = lam * (X @ h.wq) @ (X @ h.wk).T
            p = np.exp(scores - scores.max(axis=1, keepdims=True))
            A = A + (p / p.sum(axis=1, keepdims=True)) @ (X @ h.wv)
        m = lay.mlp
        X = A + np.maximum(A @ m.w1 + m.b1, 0.0) @ m.w2 + m.b2
    return X, health


def machine(programs):
    """(instruction set, stack, lam, cards, states [B, n, d]), NumPy only."""
    iset = isa.of(programs)
    key = iset.machine_key(programs, None)
    layout = iset.layout(key)
    cards, X = iset.encode(programs, key)
    return iset, iset.stack(layout), iset.inverse_temperature(layout), cards, np.asarray(X, np.float64)


def follow(programs, steps):
    """Each step from the formula's state: that state and, per card, (plan's state, plan's health,
    formula's state, formula's health); and the machine."""
    iset, stack, lam, cards, X = machine(programs)
    plan = Plan.of(stack)
    records = []
    for _ in range(steps):
        step = [plan.apply(x, lam) + formula(stack, x, lam) for x in X]
        records.append((X, step))
        X = np.stack([s[2] for s in step])
    return iset, stack, plan, cards, records


def check_integer_machine(programs, steps):
    iset, stack, plan, cards, records = follow(programs, steps)
    s = stack.scratch_tokens
    worst = 0.0
    for t, (before, step) in enumerate(records):
        Xp, Xf = np.stack([r[0] for r in step]), np.stack([r[2] for r in step])
        diff = np.max(np.abs(Xp - Xf))
        worst = max(worst, diff)
        assert diff < CORRECTION_TOLERANCE, (t, diff)
        assert iset.decode_memory(cards, Xp) == iset.decode_memory(cards, Xf), t
        assert np.array_equal(iset.decode_pc(cards[0].layout, Xp), iset.decode_pc(cards[0].layout, Xf)), t
        for _, hp, _, hf in step:
            assert abs(hp - hf) < 1e-6, t
        # what the formula changes, the plan says is written (tiny leaks aside)
        changed = np.abs(Xf - before) > 1e-6
        assert set(np.flatnonzero(changed[:, s:].any(axis=(0, 1)))) <= set(plan.written_on_rest.tolist()), t
        assert set(np.flatnonzero(changed[:, :s].any(axis=(0, 1)))) <= set(plan.written_on_scratch.tolist()), t
    return worst


def test_plan_apply_is_the_formula_on_subleq_programs():
    programs = [assemble_file(f"programs/{name}.asm") for name in ("gcd", "factorial", "bubble_sort")]
    check_integer_machine(programs, steps=16)


def test_plan_apply_is_the_formula_on_tapes():
    tapes = [load_tape(str(ROOT / "tapes" / name)) for name in ("hello.tape", "cat.tape")]
    tapes[1] = tapes[1].with_input(b"hi\n")
    check_integer_machine(tapes, steps=12)


def test_plan_apply_is_the_formula_on_fleq_programs():
    programs = [assemble_file("programs/fleq/calculator.asm"), assemble_file("programs/fleq/matrix_ops.asm")]
    iset, stack, plan, cards, records = follow(programs, steps=12)
    assert stack.per_card
    for t, (_, step) in enumerate(records):
        Xp, Xf = np.stack([r[0] for r in step]), np.stack([r[2] for r in step])
        np.testing.assert_allclose(Xp, Xf, rtol=1e-9, atol=1e-9, err_msg=f"step {t}")
        # (the memory as the state: one step's rounding in another order, amplified by the function
        # blocks; 1e-12 held on AVX2 but not on an AVX-512 Zen 4, whose XLA dots sum in another
        # order: 2.6e-11 on a product of 0.0166)
        for a, b in zip(iset.decode_memory(cards, Xp), iset.decode_memory(cards, Xf)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
        assert np.array_equal(iset.decode_pc(cards[0].layout, Xp), iset.decode_pc(cards[0].layout, Xf))


def test_mlp_groups_evaluate_their_parts_on_a_real_machine():
    """Each layer's MLP groups, evaluated by the plan, add up to the layer's MLP on every token
    (tokens="scratch" groups only on the scratch tokens: on a card whose other tokens they
    leave alone)."""
    iset, stack, lam, cards, X = machine([assemble_file("programs/gcd.asm")])
    plan = Plan.of(stack)
    rng = np.random.default_rng(0)
    A = X[0] + 0.1 * rng.normal(size=X[0].shape)  # off the lattice: every unit's kink matters
    s = stack.scratch_tokens
    for lay, lp in zip(stack.layers, plan.layers):
        m = lay.mlp
        want = np.maximum(A[:s] @ m.w1 + m.b1, 0.0) @ m.w2 + m.b2
        got = np.zeros_like(want)
        for g in lp.mlps:
            got[:, g.out_cols] += g.evaluate(A[:s])
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# ---- the structure helpers on hand-made weights -----------------------------------------------------


def test_runs_and_spans():
    assert runs([]) == []
    assert runs([5]) == [(0, 5, 1)]
    assert runs([3, 4, 5, 7, 7, 7, 2]) == [(0, 3, 3), (3, 7, -3), (6, 2, 1)]
    assert runs([1, 1]) == [(0, 1, -2)]
    assert runs([3, 2, 8, 9]) == [(0, 3, 1), (1, 2, 1), (2, 8, 2)]
    assert runs(np.array([4, 5, 5])) == [(0, 4, 2), (2, 5, 1)]
    for idx in ([3, 4, 5, 7, 7, 7, 2], [0, 2, 2, 3, 1, 0, 0]):  # the runs rebuild the list
        rebuilt = []
        for p, first, length in runs(idx):
            assert p == len(rebuilt)
            rebuilt += [first] * -length if length < 0 else list(range(first, first + length))
        assert rebuilt == idx
    assert spans([9, 1, 2, 3, 10, 5, 2]) == [(1, 3), (5, 1), (9, 2)]
    assert spans(set()) == []


def test_sparse_terms():
    rng = np.random.default_rng(1)
    rows = np.array([2, 5, 6, 9])
    w = np.zeros((4, 3))
    w[0, 0], w[3, 0] = 1.0, 1.0  # output 0: x[2] + x[9]
    w[1, 1] = 2.5  # output 1: 2.5 x[5]
    w[:, 2] = [1.0, -1.0, 0.5, 3.0]  # output 2: four inputs
    terms = sparse_terms(rows, w)
    assert len(terms) == 4  # the most inputs one output reads
    x = rng.normal(size=12)
    got = sum(x[idx] * (1.0 if coef is None else coef) for idx, coef in terms)
    np.testing.assert_allclose(got, w.T @ x[rows])
    for idx, _ in terms:  # padding reads features the map reads anyway
        assert set(idx.tolist()) <= set(rows.tolist())
    ones = np.zeros((2, 2))
    ones[0, 0] = ones[1, 1] = 1.0
    assert [coef for _, coef in sparse_terms(np.array([0, 1]), ones)] == [None]  # all ones: no coefficients
    dense = np.ones((SPARSE_TERMS + 1, 2))
    assert sparse_terms(np.arange(SPARSE_TERMS + 1), dense) is None  # too many inputs: a matrix product
    assert sparse_terms(rows, np.zeros((4, 0))) is None


def test_linear_pairs():
    units = [(2.0, 0.0, 3.0), (1.0, -0.5, 1.0), (-2.0, 0.0, -3.0), (1.0, 0.5, 1.0), (-1.0, 0.5, -1.0)]
    linear, rest = linear_pairs(units)
    assert linear == 6.0
    assert rest == [(1.0, -0.5, 1.0), (1.0, 0.5, 1.0), (-1.0, 0.5, -1.0)]  # biased pairs stay
    x = np.linspace(-3, 3, 61)
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    full = sum(c * relu(a * x + b) for a, b, c in units)
    folded = linear * x + sum(c * relu(a * x + b) for a, b, c in rest)
    np.testing.assert_allclose(folded, full, atol=1e-12)
    assert linear_pairs([(1.0, 0.0, 1.0), (-1.0, 0.0, 1.0)]) == (0.0, [(1.0, 0.0, 1.0), (-1.0, 0.0, 1.0)])  # |x|, not linear
    assert linear_pairs([]) == (0.0, [])


def part(d, units, b2=None, tokens="all"):
    """An MLP from units [(inputs {feature: coef}, bias, outputs {feature: coef})]."""
    w1, b1, w2 = np.zeros((d, len(units))), np.zeros(len(units)), np.zeros((len(units), d))
    for u, (inputs, bias, outputs) in enumerate(units):
        for f, c in inputs.items():
            w1[f, u] = c
        b1[u] = bias
        for f, c in outputs.items():
            w2[u, f] = c
    return MLP(w1, b1, w2, np.zeros(d) if b2 is None else np.asarray(b2, float), tokens=tokens)


def test_rowwise_detection():
    d = 6
    clear = part(d, [({2: 1.0}, 0.0, {2: -1.0}), ({2: -1.0}, 0.0, {2: 1.0}), ({4: 2.0}, -1.0, {4: 1.0}),
                     ({5: 1.0}, 0.0, {})])  # a unit writing nothing is row-wise too
    assert unit_rows(clear.w1, clear.w2).tolist() == [2, 2, 4, 5]
    assert rowwise_features(clear.w1, clear.w2, clear.b2).tolist() == [2, 2, 4, 5]
    b2 = np.zeros(d)
    b2[4] = 0.5
    assert rowwise_features(clear.w1, clear.w2, b2) is not None  # a bias on a unit's feature
    b2[0] = 0.5
    assert rowwise_features(clear.w1, clear.w2, b2) is None  # a bias elsewhere
    two_inputs = part(d, [({1: 1.0, 2: 1.0}, 0.0, {1: 1.0})])
    assert unit_rows(two_inputs.w1, two_inputs.w2) is None
    elsewhere = part(d, [({1: 1.0}, 0.0, {3: 1.0})])
    assert unit_rows(elsewhere.w1, elsewhere.w2) is None
    spread = part(d, [({1: 1.0}, 0.0, {1: 1.0, 3: 1.0})])
    assert unit_rows(spread.w1, spread.w2) is None


def test_mlp_plans():
    d = 8
    rng = np.random.default_rng(2)
    rowwise = part(d, [({2: 1.0}, 0.0, {2: -1.0}), ({2: -1.0}, 0.0, {2: 1.0}), ({4: 2.0}, -1.0, {4: 1.0}),
                       ({4: -2.0}, 0.5, {4: 3.0})], b2=[0, 0, 0.25, 0, 0, 0, 0, 0])
    general = part(d, [({0: 1.0, 1: -1.0}, 0.5, {6: 2.0}), ({3: 1.0}, 0.0, {7: 1.0}),
                       ({}, -1.0, {5: 4.0}),  # never fires: dropped
                       ({0: 1.0, 1: -1.0}, -0.5, {6: 1.0, 7: -1.0})], tokens="scratch")
    A = rng.normal(size=(5, d))

    def direct(p):
        return np.maximum(A @ p.w1 + p.b1, 0.0) @ p.w2 + p.b2

    r = MLPPlan.of([rowwise])
    assert r.rowwise is not None and r.in_rows.tolist() == r.out_cols.tolist() == [2, 4]
    assert r.rowwise["linear"].tolist() == [-1.0, 0.0]  # feature 2's pair folded
    assert r.units == 2 and r.rowwise["b2"].tolist() == [0.25, 0.0]
    np.testing.assert_allclose(r.evaluate(A), direct(rowwise)[:, r.out_cols], atol=1e-12)
    assert np.all(direct(rowwise)[:, np.setdiff1d(np.arange(d), r.out_cols)] == 0)

    g = MLPPlan.of([general])
    assert g.rowwise is None and g.tokens == "scratch"
    assert g.in_rows.tolist() == [0, 1, 3] and g.out_cols.tolist() == [6, 7] and g.units == 3
    np.testing.assert_allclose(g.evaluate(A), direct(general)[:, g.out_cols], atol=1e-12)
    reads, writes = g.sparse_units()
    w1, w2 = np.zeros_like(g.w1), np.zeros_like(g.w2)
    for u, terms in enumerate(reads):
        for i, c in terms:
            w1[i, u] = c
    for o, terms in enumerate(writes):
        for u, c in terms:
            w2[u, o] = c
    assert np.array_equal(w1, g.w1) and np.array_equal(w2, g.w2)
    assert MLPPlan.of([rowwise]).sparse_units() is None

    # units with the same input pattern end up next to each other
    w1, w2, b1 = sort_units(general.w1, general.w2, general.b1)
    keys = [tuple(np.flatnonzero(w1[:, u])) for u in range(w1.shape[1])]
    assert keys.index((0, 1)) + 1 == len(keys) - 1 - keys[::-1].index((0, 1))

    # part groups: by token set, row-wise apart
    lay = Layer((), (general, rowwise, part(d, [({5: 1.0}, 0.0, {5: 1.0})]), part(d, [({3: 1.0}, 0.0, {0: 1.0})])), d)
    groups = part_groups(lay)
    assert [[p.tokens for p in g] for g in groups] == [["scratch"], ["all", "all"], ["all"]]
    assert [MLPPlan.of(g).rowwise is not None for g in groups] == [False, True, False]


def test_large_parts_that_act_only_where_selected_are_groups_of_their_own():
    """part_groups: a general scratch part marked with a "not selected" row (looped/layers.py
    skip_where) and of SELECTED_GROUP_WORK or more is a group of its own, with that row's smaller parts;
    other rows' small parts stay with the rest."""
    from looped.blocks import gates

    d = 12

    def gated(row, count):
        units = Units(d, f"row {row}", "scratch")
        for u in range(count):
            gates.gated_linear(units, {u % 3: 1.0, 3: 0.5}, {row: 1.0}, {4 + u % 2: 1.0})
        return gates.only_where_selected(row, units.mlp())[0]

    plain = part(d, [({0: 1.0, 1: 1.0}, 0.0, {6: 1.0})], tokens="scratch")
    big, small, other = gated(10, 50), gated(10, 1), gated(11, 1)
    tokens = SELECTED_GROUP_WORK // 100  # 100 units x tokens: the threshold
    groups = part_groups(Layer((), (plain, big, small, other), d), scratch_tokens=tokens)
    assert [[p.name for p in g] for g in groups] == [[plain.name, "row 11"], ["row 10", "row 10"]]
    assert [MLPPlan.of(g).skip_where for g in groups] == [None, 10]
    assert len(part_groups(Layer((), (plain, big, small, other), d), scratch_tokens=tokens // 2)) == 1


def test_head_plan_and_the_plan_sets():
    d = 10
    wq, wk, wv = np.zeros((d, 2)), np.zeros((d, 2)), np.zeros((d, d))
    wq[1, 0], wq[2, 1] = 1.0, 2.0
    wk[3, 0], wk[4, 1] = -1.0, 0.5
    wv[5, 7], wv[6, 8] = 1.0, -1.0
    read = HeadPlan.of(Head(wq, wk, wv, queries="scratch"))
    assert (read.q_rows.tolist(), read.k_rows.tolist(), read.v_rows.tolist(), read.v_cols.tolist()) == \
        ([1, 2], [3, 4], [5, 6], [7, 8])
    np.testing.assert_array_equal(read.bilinear, wq[[1, 2]] @ wk[[3, 4]].T)
    assert read.reads_on_rest == {3, 4, 5, 6}  # scratch queries: q_rows are read on the scratch tokens only
    wv2 = np.zeros((d, d))
    wv2[0, 9] = 1.0
    write = Head(wq, wk, wv2, queries="others", keys="scratch+self")
    clear = part(d, [({9: 1.0}, 0.0, {9: -1.0}), ({9: -1.0}, 0.0, {9: 1.0})])
    scratch_only = part(d, [({1: 1.0}, 0.0, {0: 1.0})], tokens="scratch")
    stack = Stack((Layer((Head(wq, wk, wv, queries="scratch"),), (scratch_only,), d), Layer((write,), (clear,), d)),
                  corrected_rows=(2,), health_before=1)
    plan = Plan.of(stack)
    assert plan.d == d and plan.health_layer == 1 and plan.corrected_rows.tolist() == [2]
    assert plan.written_on_rest.tolist() == [9]
    assert plan.read_on_rest.tolist() == [0, 1, 2, 3, 4, 5, 6, 9]
    assert plan.written_on_scratch.tolist() == [0, 7, 8, 9]
    assert [w.tolist() for w in plan.write_sets("scratch")] == [[7, 8], [0], [9]]
    assert [w.tolist() for w in plan.write_sets("rest")] == [[9], [9]]
