"""Every package the code imports is declared in pyproject.toml, and every declared one is installed.

A fresh machine installs only what is declared: an import that works here because some other
package happened to pull it in (transformers through sentence-transformers, lxml_html_clean
through an extra that an old pip ignores) breaks there. These tests read the imports from the
source, map them to distributions, and compare with the declarations.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path

import pytest

from tests.conftest import ROOT

OWN = {"qa", "index", "bench", "tests", "app"}
# Needed at run time without being imported by name (trafilatura imports lxml.html.clean).
IMPLICIT = {"lxml-html-clean"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    names = set()
    for req in requirements:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        assert match, req
        names.add(_canonical(match.group(1)))
    return names


def _declared() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"core": _requirement_names(project["dependencies"])}
    for extra, requirements in project.get("optional-dependencies", {}).items():
        groups[extra] = _requirement_names(requirements) - {"newsqa"}
    # Extras that include other extras (newsqa[openai]) get their members.
    for extra, requirements in project.get("optional-dependencies", {}).items():
        for req in requirements:
            for inner in re.findall(r"newsqa\[([\w,\s-]+)\]", req):
                for name in inner.split(","):
                    groups[extra] |= groups[name.strip()]
    return groups


def _third_party_imports(files: list[Path]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OWN:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _distributions(module: str) -> set[str]:
    return {_canonical(d) for d in packages_distributions().get(module, [])}


def _py(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py")]


def test_every_package_the_code_imports_is_declared() -> None:
    declared = _declared()
    runtime = declared["core"] | declared.get("llm", set())
    undeclared = {
        module: sorted(where)
        for module, where in _third_party_imports([*_py("qa", "index"), ROOT / "app.py"]).items()
        if not _distributions(module) & runtime
    }
    assert undeclared == {}


def test_every_package_the_tests_and_benchmarks_import_is_declared() -> None:
    declared = _declared()
    everything = set().union(*declared.values())
    undeclared = {
        module: sorted(where)
        for module, where in _third_party_imports(_py("tests", "bench")).items()
        if not _distributions(module) & everything
    }
    assert undeclared == {}


@pytest.mark.parametrize("group", ["core", "dev", "llm"])
def test_every_declared_package_is_installed(group: str) -> None:
    missing = []
    for name in sorted(_declared()[group] | (IMPLICIT if group == "core" else set())):
        try:
            version(name)
        except PackageNotFoundError:
            missing.append(name)
    assert missing == []


def test_the_lock_pins_every_declared_package_and_torch_to_the_cpu_build() -> None:
    lock = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    pinned = {
        _canonical(m.group(1)): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", lock, re.MULTILINE)
    }
    declared = set().union(*_declared().values())
    assert sorted(declared - set(pinned)) == []
    assert pinned["torch"].split("+")[0] == "2.13.0"
    assert not any(name.startswith("nvidia-") for name in pinned)


def test_the_lock_matches_what_is_installed() -> None:
    lock = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    differ = []
    for m in re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", lock, re.MULTILINE):
        try:
            installed = version(m.group(1))
        except PackageNotFoundError:
            continue  # pinned for another platform or an extra not installed here
        if installed.split("+")[0] != m.group(2).split("+")[0]:
            differ.append(f"{m.group(1)}: lock {m.group(2)}, installed {installed}")
    assert differ == []
