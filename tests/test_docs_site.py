"""The documentation site builds in strict mode (a broken link, an unresolved reference or a docstring
that does not render fails it), its API pages hold the docstrings with their equations, and the
home page's commands and examples are true."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "docs" / "index.md"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text()


def test_lstm_reference_renders_docstring_and_signature(site: Path) -> None:
    html = page(site, "api/rnnx")
    assert 'id="rnnx.LSTM"' in html
    assert "Long short-term memory with forget gate and optional projection" in html
    # The variants paragraph the class appends to its docstring at import time.
    assert "DropConnect on" in html
    # A reST cross-reference became a link to the cell's own entry.
    assert re.search(r'<a class="autorefs[^>]*href="\.\./cells/#rnnx\.cells\.LSTMStep"', html)


def test_cell_equations_render_as_math(site: Path) -> None:
    html = page(site, "api/cells")
    blocks = re.findall(r'<div class="arithmatex">(.*?)</div>', html, re.S)
    assert any(r"\begin{aligned}" in b and r"c' &amp;= f \odot c + i \odot g" in b for b in blocks)
    assert '<span class="arithmatex">' in page(site, "api/rnnx")  # inline :math: roles


@pytest.mark.parametrize(
    "name", ["rnnx", "cells", "recurrence", "backends", "fused", "seq2seq", "lab", "inspection", "claims"]
)
def test_no_rest_markup_left_on_api_pages(site: Path, name: str) -> None:
    html = page(site, f"api/{name}")
    for leftover in (":class:`", ":func:`", ":meth:`", ":math:`", ".. math::", "<autoref"):
        assert leftover not in html, (name, leftover)


# The packages whose __all__ the API reference documents (rnnx.lab and rnnx.claims: every public
# member of their modules, rendered module by module).
PACKAGES = [
    "rnnx",
    "rnnx.cells",
    "rnnx.recurrence",
    "rnnx.backends",
    "rnnx.fused",
    "rnnx.errors",
    "rnnx.seq2seq",
    "rnnx.inspection",
    "rnnx.serialization",
    "rnnx.export",
    "rnnx.lab.tasks",
]


def test_every_exported_class_and_function_has_an_entry(site: Path) -> None:
    ids: set[str] = set()
    for html in (site / "api").glob("*/index.html"):
        ids |= set(re.findall(r'id="([^"]+)"', html.read_text()))
    packages = {name: importlib.import_module(name) for name in PACKAGES}
    missing = []
    for name, package in packages.items():
        for export in package.__all__:
            obj = getattr(package, export)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            # Documented under its defining module or under any package that exports it.
            # (Only names a package exports: a deprecated old name would warn when looked up.)
            where = {f"{obj.__module__}.{obj.__qualname__}"} | {
                f"{other}.{export}"
                for other, module in packages.items()
                if export in module.__all__ and getattr(module, export) is obj
            }
            if not where & ids:
                missing.append(f"{name}.{export}")
    assert not missing, f"exported but not in the API reference (add them to docs/api/): {missing}"


def test_home_page_commands_are_the_readme_commands() -> None:
    fence = r"```bash\n(.+?)\n```"
    readme = re.findall(fence, (ROOT / "README.md").read_text())
    assert re.findall(fence, HOME.read_text()) == readme[:2]


def test_home_page_examples_run() -> None:
    namespace: dict[str, object] = {}
    for block in re.findall(r"```python\n(.+?)```", HOME.read_text(), re.S):
        exec(compile(block, str(HOME), "exec"), namespace)


def converter(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("rst_to_markdown", ROOT / "docs" / "api" / "rst_to_markdown.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # nothing written into docs/
    spec.loader.exec_module(module)
    return module


def test_converter_rewrites_rest_blocks_and_grouped_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    rst = converter(monkeypatch)
    text = "Step.\n\n.. math::\n\n    a &= b \\\\\n    c &= d\n\nUsage::\n\n    x = f(1)\n\nTree::\n\n    a/\n      b.json\n"
    out = rst._blocks(text)
    assert "$$\n\\begin{aligned}\na &= b \\\\\nc &= d\n\\end{aligned}\n$$" in out
    assert "Usage:\n\n```python\nx = f(1)\n```" in out
    assert "Tree:\n\n```text\na/\n  b.json\n```" in out
    grouped = rst._sections("Args:\n    a, b: the sizes,\n        both positive.\n    c: other.\n")
    assert (
        grouped
        == "Args:\n    a: the sizes,\n        both positive.\n    b: the sizes,\n        both positive.\n    c: other.\n"
    )
    returns = rst._sections(
        "Returns:\n    ``(out, h)``: the outputs\n    and the state.\n\nRaises:\n    E: one.\n    F: two."
    )
    assert (
        returns
        == "Returns:\n    ``(out, h)``: the outputs\n        and the state.\n\nRaises:\n    E: one.\n    F: two."
    )
