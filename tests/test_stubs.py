"""The type stubs of the compiled module match the module, and a user script type-checks
under `mypy --strict` against the package (py.typed + _core.pyi)."""
import ast
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import convcore
from convcore import _core

PKG = Path(convcore.__file__).resolve().parent
STUB = PKG / "_core.pyi"
DATA = Path(__file__).resolve().parent / "data"


def _stub_tree():
    assert STUB.is_file(), f"{STUB} is missing"
    return ast.parse(STUB.read_text())


def _stub_functions():
    return {n.name: n for n in _stub_tree().body if isinstance(n, ast.FunctionDef)}


def _stub_classes():
    out = {}
    for n in _stub_tree().body:
        if isinstance(n, ast.ClassDef):
            members = set()
            for m in n.body:
                if isinstance(m, ast.FunctionDef) and not m.name.startswith("__"):
                    members.add(m.name)
                elif isinstance(m, ast.AnnAssign) and isinstance(m.target, ast.Name):
                    members.add(m.target.id)
            out[n.name] = members
    return out


def _public(obj):
    return {n for n in dir(obj) if not n.startswith("_")}


def test_py_typed_marker():
    assert (PKG / "py.typed").is_file()


def test_stub_names_match_the_module():
    stub = set(_stub_functions()) | set(_stub_classes())
    built = _public(_core)
    missing, extra = sorted(built - stub), sorted(stub - built)
    assert not missing, (f"add to python/convcore/_core.pyi: {missing} (exported by _core); "
                         f"`PYTHONPATH=python python tools/stubgen.py --write` drafts them")
    assert not extra, f"python/convcore/_core.pyi declares names _core lacks: {extra}"


def test_stub_class_members_match():
    for cls, members in _stub_classes().items():
        built = _public(getattr(_core, cls))
        missing, extra = sorted(built - members), sorted(members - built)
        assert not missing, f"add to class {cls} in _core.pyi: {missing}"
        assert not extra, f"class {cls} in _core.pyi declares members _core lacks: {extra}"


def _split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def _pybind_params(fn):
    """Parameter names from the signature line pybind11 writes first in the docstring."""
    first = (fn.__doc__ or "").strip().splitlines()[0]
    m = re.match(r"\w+\((.*)\) ->", first)
    assert m, f"unexpected pybind11 signature line {first!r}"
    return [p.split(":")[0].split("=")[0].strip() for p in _split_top(m.group(1))]


def test_stub_parameters_match():
    for name, node in _stub_functions().items():
        stub_params = [a.arg for a in node.args.args]
        built = _pybind_params(getattr(_core, name))
        assert stub_params == built, (
            f"_core.pyi: {name}({', '.join(stub_params)}) but _core.{name}({', '.join(built)})")


def _mypy(tmp_path, script):
    pytest.importorskip("mypy")
    env = dict(os.environ)
    site = {Path(p).resolve() for p in (sysconfig.get_paths()["purelib"],
                                         sysconfig.get_paths()["platlib"])}
    if PKG.parent not in site:  # a checkout (PYTHONPATH=python): show mypy the same package
        env["MYPYPATH"] = str(PKG.parent)
    env.pop("PYTHONPATH", None)
    cmd = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
           "--no-incremental", "--cache-dir", str(tmp_path / "cache"),
           "--python-executable", sys.executable, str(script)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)


def test_mypy_strict_user_script(tmp_path):
    script = tmp_path / "typed_user.py"
    shutil.copy(DATA / "typed_user.py", script)
    r = _mypy(tmp_path, script)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_sees_the_stub_types(tmp_path):
    # The check above must be able to fail: a wrong type from _core is caught via the stub.
    script = tmp_path / "wrong.py"
    script.write_text("from convcore import _core\n\nn: str = _core.get_num_threads()\n")
    r = _mypy(tmp_path, script)
    assert r.returncode != 0
    assert 'Incompatible types in assignment (expression has type "int"' in r.stdout


TOOL = Path(__file__).resolve().parent.parent / "tools" / "stubgen.py"


@pytest.mark.skipif(not TOOL.is_file(), reason="tools/ is part of the source checkout")
def test_stubgen_drafts_valid_declarations():
    import importlib.util

    spec = importlib.util.spec_from_file_location("stubgen", TOOL)
    stubgen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stubgen)
    assert stubgen.missing(_core, STUB) == []

    def fake():
        pass

    fake.__doc__ = ("fake(x: numpy.ndarray, n: typing.SupportsInt | typing.SupportsIndex, "
                    "s: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], "
                    "o: convcore._core.ConvOptions, b: object) -> tuple\n\nDoc.")
    line = stubgen.declaration("fake", fake)
    assert line == ("def fake(x: _Array, n: int, s: Sequence[float], o: ConvOptions, b: Any) "
                    "-> Tuple[Any, ...]: ...\n")
    ast.parse(line)
    ast.parse(stubgen.declaration("ConvSpec", _core.ConvSpec))
