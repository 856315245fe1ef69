"""A griffe extension for the API reference: rnnx's docstrings use reST markup inside Google-style
sections, and mkdocstrings renders docstrings as Markdown. This rewrites the reST parts once per
object, before rendering:

- ``:math:`x``` becomes ``$x$`` and a ``.. math::`` block becomes a ``$$`` block (``aligned`` when
  it has ``&`` or ``\\``), which pymdownx.arithmatex hands to KaTeX;
- ``:class:`~rnnx.cells.LSTMStep``` and the other Python roles become cross-references, resolved
  in the object's scope as Sphinx would; a name outside rnnx (``torch.nn.LSTM``) stays code;
- a literal block (``Example::`` and an indented block) becomes a fenced code block, marked as
  Python when it parses as Python.

A reference to an rnnx object that the reference does not render fails ``mkdocs build --strict``,
which is the point: the docs cannot name something that is not there.
"""

from __future__ import annotations

import ast
import logging
import re
import textwrap
from typing import Any

import griffe

logger = logging.getLogger("griffe")

ROLE = re.compile(r":(?:py:)?(class|meth|func|mod|attr|data|exc|obj|const):`([^`]+)`")
MATH_ROLE = re.compile(r":math:`([^`]+)`")
MATH_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. math::\s*$")
ARG_SECTIONS = {
    "Args:",
    "Arguments:",
    "Parameters:",
    "Params:",
    "Keyword Args:",
    "Keyword Arguments:",
    "Other Parameters:",
}
RETURN_SECTIONS = {"Returns:", "Yields:"}
PARAM_GROUP = re.compile(r"^(?P<indent>\s+)(?P<names>\w+(?:,\s*\w+)+):(?P<rest>.*)$")
LITERAL_INTRO = re.compile(r"^(?P<indent>\s*)(?P<text>.*?)(?P<colons>::)\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """The indented block after line ``start - 1``: its lines (dedented) and the next index."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return textwrap.dedent("\n".join(lines[start:end])).strip("\n").split("\n"), end


def _math_block(body: list[str], pad: str) -> list[str]:
    text = "\n".join(body)
    if "&" in text or "\\\\" in text:
        body = ["\\begin{aligned}", *body, "\\end{aligned}"]
    return ["", pad + "$$", *(pad + line for line in body), pad + "$$", ""]


def _code_block(body: list[str], pad: str) -> list[str]:
    source = "\n".join(body)
    try:
        ast.parse(source)
        language = "python"
    except SyntaxError:
        language = "text"
    return ["", pad + "```" + language, *(pad + line for line in body), pad + "```", ""]


def _sections(text: str) -> str:
    """Google sections as griffe reads them: ``a, b: description`` in an Args section becomes one
    entry per name, each with the description; a Returns or Yields section, which in rnnx always
    describes one value, keeps its lines at the section's indentation as that value's text
    instead of one value per line."""
    out: list[str] = []
    section = ""
    returns_started = False
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip() and not line.startswith(" "):
            section = line.strip()
            returns_started = False
        if section in RETURN_SECTIONS and line.startswith(" ") and line.strip():
            if returns_started and _indent(line) == 4:
                line = "    " + line
            returns_started = True
            out.append(line)
            i += 1
            continue
        entry = PARAM_GROUP.match(line) if section in ARG_SECTIONS else None
        if entry is None:
            out.append(line)
            i += 1
            continue
        body = [entry["rest"]]
        i += 1
        while i < len(lines) and lines[i].strip() and _indent(lines[i]) > len(entry["indent"]):
            body.append(lines[i])
            i += 1
        for name in entry["names"].split(","):
            out += [f"{entry['indent']}{name.strip()}:{body[0]}", *body[1:]]
    return "\n".join(out)


def _blocks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        math = MATH_DIRECTIVE.match(line)
        literal = LITERAL_INTRO.match(line)
        if math or (literal and not line.strip().startswith("..")):
            indent = _indent(line)
            body, end = _block(lines, i + 1, indent)
            if body != [""]:
                pad = " " * indent
                if math:
                    out += _math_block(body, pad)
                else:
                    assert literal is not None
                    intro = literal["text"].rstrip()
                    # "Usage::" reads "Usage:"; a lone "::" disappears, as in reST.
                    if intro:
                        out.append(pad + intro + ":")
                    out += _code_block(body, pad)
                i = end
                continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _lookup(pkg: griffe.Module, path: str) -> griffe.Object | None:
    """The object at ``path`` (aliases followed), or None where rnnx has no such object."""
    obj: griffe.Object | griffe.Alias = pkg
    for name in path.split(".")[1:]:
        member = obj.members.get(name)
        if member is None:
            return None
        obj = member
    try:
        return obj.final_target if isinstance(obj, griffe.Alias) else obj
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _shadowing(pkg: griffe.Module, target: griffe.Object | None) -> griffe.Object | None:
    """A function named like its module (``rnnx.inspection.trace.trace``, imported into the package
    as ``trace``) hides the module at runtime; griffe sees the module. This gives the function."""
    if target is not None and target.is_module and target.name in target.members:
        return _lookup(pkg, f"{target.path}.{target.name}")
    return target


def _written_path(obj: griffe.Object | griffe.Alias, name: str) -> str | None:
    """The full path of ``name`` as seen from ``obj`` (Sphinx's lookup order), or None outside rnnx."""
    if name == "rnnx" or name.startswith("rnnx."):
        return name
    head, _, rest = name.partition(".")
    scope: griffe.Object | griffe.Alias | None = obj
    while scope is not None:
        try:
            resolved = scope.resolve(head)
        except (griffe.NameResolutionError, griffe.AliasResolutionError):
            scope = scope.parent
            continue
        full = f"{resolved}.{rest}" if rest else resolved
        return full if full.startswith("rnnx.") else None
    return None


class _References:
    """Resolves the roles of one package's docstrings to canonical paths, and knows which of
    them the reference renders for sure: what a package exports (``__all__``), and the public
    members of exported classes."""

    def __init__(self, pkg: griffe.Module) -> None:
        self.pkg = pkg
        self.exported: set[str] = set()
        modules = [pkg]
        while modules:
            module = modules.pop()
            modules += [m for m in module.modules.values() if not m.is_alias]
            for name in module.exports or ():
                target = _shadowing(pkg, _lookup(pkg, f"{module.path}.{name}"))
                if target is not None and not target.is_module:
                    self.exported.add(target.path)

    def rendered(self, target: griffe.Object) -> bool:
        if not target.has_docstring:
            return False  # the reference shows only documented objects
        if target.path in self.exported:
            return True
        parent = target.parent
        return (
            parent is not None and parent.is_class and parent.path in self.exported and not target.name.startswith("_")
        )

    def markdown(self, obj: griffe.Object, role: str, name: str, shown: str) -> str:
        path = _written_path(obj, name)
        if path is None:
            return f"`{shown}`"
        target = _lookup(self.pkg, path)
        if role != "mod":
            target = _shadowing(self.pkg, target)
        if target is None:
            logger.warning("%s: %s references %r, which rnnx does not have", obj.path, role, name)
            return f"`{shown}`"
        if target.is_module or not self.rendered(target):
            # Linked where the reference happens to render it (a package page), plain code otherwise.
            return f'<autoref identifier="{target.path}" optional><code>{shown}</code></autoref>'
        return f"[`{shown}`][{target.path}]"


def _roles(refs: _References, obj: griffe.Object, text: str) -> str:
    def reference(match: re.Match[str]) -> str:
        written = match[2].strip()
        title, _, explicit = written.partition(" <")
        name = (explicit.rstrip(">") if explicit else written).lstrip("~!")
        if explicit:
            shown = title
        elif written.startswith("~"):
            shown = name.rsplit(".", 1)[-1]
        else:
            shown = name
        if match[1] in ("meth", "func") and not shown.endswith(")"):
            shown += "()"
        return f"`{shown}`" if written.startswith("!") else refs.markdown(obj, match[1], name, shown)

    return ROLE.sub(reference, MATH_ROLE.sub(lambda m: f"${m[1].strip()}$", text))


def _appended_doc(obj: griffe.Object) -> str:
    """The text a class adds to its docstring with ``__doc__ = (__doc__ or "") + NAME``, where
    ``NAME`` is a string constant of its module; griffe reads the source and sees only the first
    part."""
    assignment = obj.members.get("__doc__")
    if not obj.is_class or assignment is None or assignment.is_alias:
        return ""
    value = assignment.value
    if not (isinstance(value, griffe.ExprBinOp) and value.operator == "+" and isinstance(value.right, griffe.ExprName)):
        return ""
    constant = obj.module.members.get(value.right.name)
    if constant is None or constant.is_alias or not isinstance(constant.value, str):
        return ""
    return "\n" + textwrap.dedent(ast.literal_eval(constant.value)).rstrip()


def convert(refs: _References, obj: griffe.Object, text: str) -> str:
    """Markdown for one docstring of ``obj``."""
    return _roles(refs, obj, _sections(_blocks(text)))


class RstToMarkdown(griffe.Extension):
    """Rewrites each docstring's reST markup as Markdown once the package is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        refs = _References(pkg)
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = convert(refs, obj, obj.docstring.value + _appended_doc(obj))
            stack += [member for member in obj.members.values() if not member.is_alias]
