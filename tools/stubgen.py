#!/usr/bin/env python3
"""Stub lines for what convcore._core exports but python/convcore/_core.pyi lacks.

    PYTHONPATH=python python tools/stubgen.py          # print the missing declarations
    PYTHONPATH=python python tools/stubgen.py --write  # append them to _core.pyi

The types come from the signature line pybind11 writes first in each docstring, mapped to the
stub's vocabulary (numpy.ndarray -> _Array, SupportsInt -> int, object -> Any, ...). Review the
result: `object` parameters that accept None deserve Optional[...]. tests/test_stubs.py fails
(and names this tool) while anything is missing."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path
from typing import List, Set

_SUBS = [
    (r"typing\.SupportsInt \| typing\.SupportsIndex", "int"),
    (r"typing\.SupportsFloat \| typing\.SupportsIndex", "float"),
    (r"typing\.SupportsInt", "int"),
    (r"typing\.SupportsFloat", "float"),
    (r"numpy\.typing\.NDArray\[[^\]]*\]", "_Array"),
    (r"numpy\.ndarray", "_Array"),
    (r"collections\.abc\.Sequence", "Sequence"),
    (r"convcore\._core\.", ""),
    (r"\blist\[", "List["),
    (r"\btuple\[", "Tuple["),
    (r"\bdict\b(?!\[)", "Dict[str, Any]"),
    (r"\btuple\b(?!\[)", "Tuple[Any, ...]"),
    (r"\blist\b(?!\[)", "List[Any]"),
    (r"\bdict\[", "Dict["),
    (r"\bobject\b", "Any"),
    (r"typing\.", ""),
]


def _py_type(t: str) -> str:
    for pat, rep in _SUBS:
        t = re.sub(pat, rep, t)
    return t.strip()


def stub_names(stub: Path) -> Set[str]:
    tree = ast.parse(stub.read_text())
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def declaration(name: str, obj: object) -> str:
    if isinstance(obj, type):
        members = [m for m in dir(obj) if not m.startswith("_")]
        body = "".join(f"    {m}: Any\n" for m in members) or "    ...\n"
        return f"class {name}:\n{body}"
    first = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    m = re.match(rf"{re.escape(name)}\((.*)\) -> (.*)$", first[0]) if first else None
    if not m:
        return f"def {name}(*args: Any, **kwargs: Any) -> Any: ...\n"
    params, ret = m.group(1), m.group(2)
    return f"def {name}({_py_type(params)}) -> {_py_type(ret)}: ...\n"


def missing(module: object, stub: Path) -> List[str]:
    have = stub_names(stub)
    return [declaration(n, getattr(module, n)) for n in sorted(dir(module))
            if not n.startswith("_") and n not in have]


def main(argv: List[str]) -> int:
    from convcore import _core

    stub = Path(_core.__file__).resolve().parent / "_core.pyi"
    lines = missing(_core, stub)
    if not lines:
        print(f"{stub}: complete")
        return 0
    text = "".join(lines)
    if "--write" in argv:
        with stub.open("a") as f:
            f.write("\n" + text)
        print(f"appended {len(lines)} declaration(s) to {stub}; review them")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
