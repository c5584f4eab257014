"""The package's shape, read from its source: imports between packages run one way, there
is no import circle, and only sources/ imports boto3/botocore."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "functions" / "tiler" / "gigatile"
# Each package, and what it may import from the rest of gigatile (top-level modules are
# listed by name). Imports run: protocols → http/service → imaging → formats, conversion
# → sources → lru, vips, config, errors.
BASE = {"config", "errors", "vips", "lru", "observability", "__init__", "__version__"}
ALLOWED = {
    "sources": BASE,
    "formats": BASE,
    "imaging": BASE | {"sources", "formats"},
    "conversion": BASE | {"sources", "formats", "imaging"},
    "service": BASE | {"sources", "formats", "imaging", "conversion", "memory"},
    "http": BASE | {"sources", "imaging"},
}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def imports(path: Path) -> set[str]:
    """gigatile modules imported by `path` (absolute names), and third-party top-level names."""
    tree = ast.parse(path.read_text())
    package = module_name(path).rsplit(".", 1)[
        0
    ]  # gigatile.imaging.render and gigatile.imaging.__init__: gigatile.imaging
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:  # from . import x
                    found |= {f"{target}.{alias.name}" for alias in node.names}
                else:
                    found.add(target)
            else:
                found.add(node.module or "")
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


MODULES = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def part(module: str) -> str:
    """The package (or top-level module) a gigatile module belongs to: gigatile.imaging.render → imaging."""
    return module.split(".")[1] if module.count(".") else "__init__"


def test_boto3_only_in_sources():
    users = {m for m, deps in MODULES.items() if any(d.split(".")[0] in ("boto3", "botocore") for d in deps)}
    assert users and all(part(m) == "sources" for m in users), users


def test_packages_import_one_way():
    wrong = []
    for module, deps in MODULES.items():
        allowed = ALLOWED.get(part(module))
        if allowed is None:
            continue
        for dep in deps:
            if dep.startswith("gigatile.") and part(dep) != part(module) and part(dep) not in allowed:
                wrong.append(f"{module} → {dep}")
    assert not wrong, wrong


def test_no_import_circle():
    known = set(MODULES)

    def resolve(dep: str) -> str | None:
        while dep and dep not in known:
            dep = dep.rpartition(".")[0]
        return dep or None

    graph = {m: {r for d in deps if (r := resolve(d)) and r != m} for m, deps in MODULES.items()}
    # A package's __init__ imports nothing here, so edges into it are not circles.
    visiting, done, circles = set(), set(), []

    def visit(node: str, path: list[str]) -> None:
        visiting.add(node)
        for nxt in graph[node]:
            if nxt.endswith("__init__") or nxt == "gigatile":
                continue
            if nxt in visiting:
                circles.append(" → ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in done:
                visit(nxt, [*path, nxt])
        visiting.discard(node)
        done.add(node)

    for module in graph:
        if module not in done:
            visit(module, [module])
    assert not circles, circles
