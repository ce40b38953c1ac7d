"""The tree shows the architecture: no import circles in looped/ or kernels/, each machine in its
own folder under looped/machines/, a command-line shell that holds no machine's code, and kernels
that know only layers. Imports are read from the source (ast), inside functions too."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("looped", "kernels")
MACHINES = ("subleq", "fleq", "tape")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(path: Path, name: str, known: dict) -> set[str]:
    """The project modules `path` imports (a `from X import Y` counts X.Y when that is a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in known else base)
    return {m for m in out if m in known and m != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(path, name, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles_in_looped_or_kernels():
    assert cycles(graph()) == []


def test_every_machine_has_its_own_folder_and_none_sits_at_the_root():
    root_modules = {p.stem for p in (ROOT / "looped").glob("*.py")}
    for machine in MACHINES:
        assert (ROOT / "looped" / "machines" / machine / "isa.py").exists()
        assert not any(m.startswith(machine) for m in root_modules), (machine, sorted(root_modules))
    from looped import machines

    assert set(MACHINES) <= set(machines.names())


def test_shared_code_reaches_machines_only_through_the_registry():
    """The root of looped/, the CLI shell, the blocks and the kernels import no machine's module."""
    for name, deps in graph().items():
        shared = name.count(".") == 1 or name.startswith(("looped.cli", "looped.blocks", "looped.assembler"))
        if shared:
            assert not [d for d in deps if d.startswith("looped.machines.") and d != "looped.machines.base"], (name, deps)


def test_kernels_know_only_layers():
    for name, deps in graph().items():
        if name.startswith("kernels"):
            assert not [d for d in deps if d.startswith("looped.") and d not in ("looped.layers", "looped.layout")], (name, deps)
