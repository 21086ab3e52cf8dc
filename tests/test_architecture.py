"""The house rules that keep the layout readable: imports point down, never in a circle.

Layers, lowest first: ``index`` (data in) < the answer side's shared ground (``qa.errors``,
``qa.models``, ``qa.settings``) < ``qa.answer`` < ``qa.llm`` < ``qa.wiring`` / ``qa.assistant``
< ``qa.eval`` < ``qa.ui`` < ``qa.cli`` / ``qa`` (the public API) / ``app``. Every import in every
module is read from its source, including those inside functions: a lazy import that would point
up or close a circle fails here just the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

LAYERS: list[tuple[str, ...]] = [
    ("index",),
    ("qa.errors", "qa.models", "qa.settings"),
    ("qa.answer",),
    ("qa.llm",),
    ("qa.wiring", "qa.assistant"),
    ("qa.eval",),
    ("qa.ui",),
    ("qa.cli", "qa", "app"),
]
# Third-party libraries and the one room each may enter through.
GATES = {
    "chromadb": ("index.store",),
    "sentence_transformers": ("index.embedder",),
    "transformers": ("index.embedder",),
    "torch": ("index.embedder",),
    "onnxruntime": ("index.onnx_backend",),
    "onnx": ("index.onnx_backend",),
    "gradio": ("qa.ui",),
    "matplotlib": ("qa.eval.report", "qa.eval.plots"),
    "Stemmer": ("index.lexicon",),
    "httpx": ("index.fetch",),
    "feedparser": ("index.feeds",),
    "datasketch": ("index.dedup",),
    "yaml": ("index.markdown",),
    "langchain_openai": ("qa.llm",),
    "langchain_ollama": ("qa.llm",),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    files = [*ROOT.joinpath("index").rglob("*.py"), *ROOT.joinpath("qa").rglob("*.py"), ROOT / "app.py"]
    return {_module_name(p): p for p in files}


def _imports(path: Path, name: str, known: set[str] | frozenset[str] = frozenset()) -> set[str]:
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from qa.ui import render`` imports the module qa.ui.render; ``from qa.models import
            # Answer`` imports qa.models.
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return found


def _layer(module: str) -> int | None:
    best: tuple[int, int] | None = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            matches = module == prefix or module.startswith(prefix + ".")
            if matches and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    return best[0] if best else None


def _room(module: str) -> str:
    """The unit within which imports may go either way: a subpackage of qa, or one module."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "qa" and len(parts) > 2 else module


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {m for m in _imports(path, name, set(modules)) if m in modules and m != name}
        for name, path in modules.items()
    }


def test_every_import_points_down_the_layers() -> None:
    upward = []
    for module, targets in _graph().items():
        for target in targets:
            here, there = _layer(module), _layer(target)
            assert here is not None and there is not None, (module, target)
            if there > here:
                upward.append(f"{module} imports {target}")
    assert upward == []


def test_no_import_circles_between_modules() -> None:
    graph = _graph()
    # ``qa`` (the package) re-exports from below; its lazy attributes are the API, not a cycle.
    graph.pop("qa", None)
    for targets in graph.values():
        targets.discard("qa")
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


@pytest.mark.parametrize("library", sorted(GATES))
def test_each_library_enters_through_its_one_room(library: str) -> None:
    modules = _modules()
    users = sorted(
        name for name, path in modules.items()
        if any(m == library or m.startswith(library + ".") for m in _imports(path, name))
    )
    allowed = GATES[library]
    assert [u for u in users if not any(u == a or u.startswith(a + ".") for a in allowed)] == []


def test_no_module_is_long_without_saying_why() -> None:
    long = [
        name for name, path in _modules().items()
        if len(path.read_text(encoding="utf-8").splitlines()) > 420
        and "Longer than" not in path.read_text(encoding="utf-8")[:1500]
    ]
    assert long == []


def test_the_index_never_imports_the_answer_side() -> None:
    for module, targets in _graph().items():
        if module.startswith("index"):
            assert not any(t == "qa" or t.startswith("qa.") for t in targets), module


def test_the_rules_themselves_catch_an_upward_import(tmp_path: Path) -> None:
    # A test that cannot fail is no test: an upward import written out must be seen as one.
    fake = tmp_path / "x.py"
    fake.write_text("def f():\n    from qa.ui import render\n")
    assert "qa.ui.render" in _imports(fake, "qa.answer.x", {"qa.ui.render"})
    assert _layer("qa.ui.render") > _layer("qa.answer.x")  # type: ignore[operator]
