"""Packaging facts that must hold together: the wheel workflow's matrix, pyproject's Python
versions and extras, and (for an installed wheel) the files a wheel must carry."""
import re
import sys
from pathlib import Path

import pytest

import convcore

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "wheels.yml"
PYPROJECT = ROOT / "pyproject.toml"
PKG = Path(convcore.__file__).resolve().parent
VERSIONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]

in_checkout = pytest.mark.skipif(not WORKFLOW.is_file() or not PYPROJECT.is_file(),
                                 reason="needs the source checkout")


def _toml():
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads(PYPROJECT.read_text())


def _workflow():
    yaml = pytest.importorskip("yaml")  # in the test extra
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(doc, dict) and "jobs" in doc
    return doc


def _cibw_step(doc):
    steps = doc["jobs"]["build_wheels"]["steps"]
    found = [s for s in steps if str(s.get("uses", "")).startswith("pypa/cibuildwheel@")]
    assert len(found) == 1, "one cibuildwheel step"
    return steps, found[0]


@in_checkout
def test_workflow_matrix():
    doc = _workflow()
    triggers = doc.get("on", doc.get(True))  # YAML 1.1 reads the key `on` as True
    assert {"push", "pull_request", "workflow_dispatch"} <= set(triggers)
    job = doc["jobs"]["build_wheels"]
    assert job["runs-on"] == "${{ matrix.os }}"
    assert job["strategy"]["fail-fast"] is False
    combos = {(m["os"].split("-")[0], m["arch"]) for m in job["strategy"]["matrix"]["include"]}
    assert combos == {("ubuntu", "x86_64"), ("ubuntu", "aarch64"), ("macos", "arm64"),
                      ("macos", "x86_64"), ("windows", "AMD64")}
    # aarch64 on a native ARM runner (no QEMU: the test suite would take an hour emulated).
    arm = [m for m in job["strategy"]["matrix"]["include"] if m["arch"] == "aarch64"]
    assert arm[0]["os"].endswith("-arm")
    for m in job["strategy"]["matrix"]["include"]:
        if m["os"].startswith("macos"):
            assert re.fullmatch(r"\d+\.\d", m["macos_target"])


@in_checkout
def test_cibuildwheel_settings():
    steps, step = _cibw_step(_workflow())
    env = step["env"]
    builds = env["CIBW_BUILD"].split()
    assert builds == [f"cp{v.replace('.', '')}-*" for v in VERSIONS]
    assert env["CIBW_ARCHS"] == "${{ matrix.arch }}"
    assert "manylinux_2_28" in env["CIBW_MANYLINUX_X86_64_IMAGE"]
    assert "manylinux_2_28" in env["CIBW_MANYLINUX_AARCH64_IMAGE"]
    for skipped in ("*-musllinux_*", "*_i686", "*-win32"):
        assert skipped in env["CIBW_SKIP"].split()
    # The test suite runs against the installed wheel, with the test extra.
    assert re.fullmatch(r"(python -m )?pytest \{project\}/tests.*", env["CIBW_TEST_COMMAND"])
    assert "test" in env["CIBW_TEST_EXTRAS"].split(",")
    # OpenMP on macOS: Homebrew's libomp, found through OpenMP_ROOT, with a serial fallback.
    brew = [s for s in steps if "brew install libomp" in str(s.get("run", ""))]
    assert brew and brew[0]["if"].startswith("runner.os == 'macOS'")
    assert "OpenMP_ROOT" in env["CIBW_ENVIRONMENT_MACOS"]
    assert "MACOSX_DEPLOYMENT_TARGET" in env["CIBW_ENVIRONMENT_MACOS"]
    assert any("CONVCORE_OPENMP=OFF" in str(s.get("run", "")) for s in steps)
    # Every action pinned to a release.
    doc = _workflow()
    for job in doc["jobs"].values():
        for s in job["steps"]:
            if "uses" in s:
                assert re.search(r"@v\d", s["uses"]), s["uses"]


@in_checkout
def test_python_versions_agree():
    meta = _toml()["project"]
    assert meta["requires-python"] == f">={VERSIONS[0]}"
    listed = [c.rsplit(":: ", 1)[1] for c in meta["classifiers"]
              if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert listed == VERSIONS
    assert "Typing :: Typed" in meta["classifiers"]
    assert sys.version_info[:2] >= (3, 9)


@in_checkout
def test_extras_and_entry_point():
    meta = _toml()["project"]
    extras = meta["optional-dependencies"]
    assert any(d.startswith("matplotlib") for d in extras["viz"])
    for dep in ("pytest", "hypothesis", "scipy", "pyyaml"):
        assert any(d.startswith(dep) for d in extras["test"]), dep
    assert meta["scripts"]["convcore"] == "convcore.cli:main"


def test_package_carries_typing_files():
    assert (PKG / "py.typed").is_file()
    assert (PKG / "_core.pyi").is_file()


@pytest.mark.skipif(not (PKG / "include").is_dir(), reason="convcore runs from a checkout, "
                    "not an installed wheel")
def test_installed_wheel_carries_headers_and_cmake_package():
    assert (PKG / "include" / "convcore" / "convcore.hpp").is_file()
    for sub in ("core", "kernels", "ops"):
        assert any((PKG / "include" / "convcore" / sub).glob("*.hpp")), sub
    cmake = PKG / "cmake"
    for f in ("convcoreConfig.cmake", "convcoreConfigVersion.cmake", "convcoreTargets.cmake"):
        assert (cmake / f).is_file(), f
    assert convcore.get_include() == str(PKG / "include")
    assert convcore.get_cmake_dir() == str(cmake)


README = ROOT / "README.md"


@pytest.mark.skipif(not README.is_file(), reason="needs the source checkout")
def test_readme_commands_gallery_and_links():
    text = README.read_text()
    assert "pip install '.[viz]' && convcore tour --out tour-out" in text
    assert "pip install '.[test]' && pytest" in text
    assert "<!-- bench-table -->" in text
    gallery = ROOT / "docs" / "gallery.png"
    assert "docs/gallery.png" in text and gallery.is_file()
    assert 20_000 < gallery.stat().st_size < 300_000
    for link in re.findall(r"\]\(((?:docs|examples|\.github)/[^)#]+)\)", text):
        assert (ROOT / link).exists(), link
    # Every variant the tour knows appears in the README's table.
    from convcore import tour

    for name in {n for r in tour.ROWS for n in r.needs}:
        # conv_transpose2d is listed as `conv_transpose1d/2d/3d`
        assert f"`{name}`" in text or f"`{re.sub(r'[123]d$', '1d/2d/3d', name)}`" in text or \
            f"cc.{name}(" in text, name
