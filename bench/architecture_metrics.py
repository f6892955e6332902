"""Architecture metrics: how many places name IR layer kinds outside the IR, and what a new kind touches.

    python3 bench/architecture_metrics.py [KCONVERT_DIR]

Counts, with the source read as text (nothing is imported):

* module-level *kind catalogs*: assignments outside ``ir/layers/`` whose literal value (a set, tuple,
  list, dict or call) names two or more IR kinds -- the lists a new kind may have to join;
* *name slicing*: dispatch on pieces of kind names (``kind.startswith(...)``, ``kind[:-2]``,
  ``"Max" in kind``);
* per sample kind, the files under kconvert/ that name it as a string literal.

Measured for issue 24 (before: c2b95cc; after: the commit that resolved it) -- see the note and
README's architecture section for the figures.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

SAMPLE_KINDS = ("LayerScale", "GRU", "Conv1D", "SpatialDropout2D", "Normalization", "GlobalMaxPooling2D", "PReLU",
                "CustomScaleLayer")
_SLICING = re.compile(r'kind\.(startswith|endswith)\(|kind\[[-:0-9]+\]|"(Average|Max|Global)" in [\w.]*kind')


def ir_kinds(root: Path) -> set[str]:
    text = "".join(p.read_text() for p in (root / "ir").rglob("*.py"))
    return set(re.findall(r'^\s+kind = "(\w+)"', text, re.M))


def catalogs(root: Path, kinds: set[str]) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if "ir/layers" in path.as_posix():
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(
                    node.value, (ast.Set, ast.Tuple, ast.Dict, ast.Call, ast.List, ast.DictComp)):
                named = {n.value for n in ast.walk(node.value)
                         if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in kinds}
                if len(named) >= 2:
                    target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                    found.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(target)} ({len(named)} kinds)")
    return found


def slicing(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        for m in _SLICING.finditer(text):
            found.append(f"{path.relative_to(root)}:{text[:m.start()].count(chr(10)) + 1} {m.group(0)}")
    return found


def files_naming(root: Path, kind: str) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.py") if f'"{kind}"' in p.read_text())


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "kconvert")
    kinds = ir_kinds(root)
    found, sliced = catalogs(root, kinds), slicing(root)
    print(f"{len(kinds)} IR kinds")
    print(f"{len(found)} module-level kind catalogs outside ir/layers:")
    print("".join(f"  {line}\n" for line in found), end="")
    print(f"{len(sliced)} dispatches on pieces of kind names:")
    print("".join(f"  {line}\n" for line in sliced), end="")
    print("files naming a kind as a string:")
    for kind in SAMPLE_KINDS:
        files = files_naming(root, kind)
        print(f"  {kind}: {len(files)} ({', '.join(files)})")


if __name__ == "__main__":
    main()
