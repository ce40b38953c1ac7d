"""The README's map of the code matches the tree: every folder and file it names exists where it
says, and every package folder of looped/ is on the map."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"(?<![\w./-])([A-Za-z_][\w]*(?:\.py|/))")


def map_entries() -> list[tuple[Path, str]]:
    """(folder the line speaks of, the line's text) for each line of the map's tree."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Map of the code", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    entries, parents = [], {}
    for line in block.splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        head = line.split()[0]
        if head.endswith("/") and indent % 2 == 0 and indent < 20:
            folder = parents.get(indent - 2, ROOT) / head
            parents[indent] = folder
            for deeper in [k for k in parents if k > indent]:
                del parents[deeper]
            entries.append((folder, line.strip()[len(head):]))
            assert folder.is_dir(), f"the map names {folder.relative_to(ROOT)}, which is not a folder"
        else:
            base = parents.get(indent - 2, ROOT) if indent < 20 else parents[max(parents)]
            entries.append((base, line.strip()))
    return entries


def test_every_name_on_the_map_exists():
    missing = []
    for folder, text in map_entries():
        for name in NAME.findall(text.split("`")[0] if "`" in text else text):
            if not ((folder / name).exists() or (folder.parent / name).exists()):
                missing.append(f"{folder.relative_to(ROOT)}: {name}")
    assert not missing, missing


def test_every_package_folder_is_on_the_map():
    shown = {folder for folder, _ in map_entries()}
    text = (ROOT / "README.md").read_text().split("## Map of the code", 1)[1]
    for init in (ROOT / "looped").rglob("__init__.py"):
        folder = init.parent
        assert folder in shown or f"{folder.name}/" in text, f"{folder.relative_to(ROOT)} is not on the map"
