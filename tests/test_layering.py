"""The package's import structure (read from the source, not by importing it): no cycles, no upward imports.

Every import counts, at module level or inside a function, so a cycle cannot hide in a function body.
The layers, bottom to top (ARCHITECTURE.md draws them):

    errors, grammar, spec, files        know nothing of the rest (spec reads its text through grammar)
    weights, augment, engine            the engine contract and what engines share
    numpy/, torch/                      the engines: import only the layers above
    config, schedules, rundir, data/    settings, the run directory, datasets
    hooks, train                        the training loop
    api, experiments/, report/          the Python API and what builds on it
    playground/, explain, grader, ...   teaching tools on the numpy engine
    cli/, __main__                      the command line: nothing below imports it; a module per command
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "layerlab"

#: Modules (or packages, with a trailing ".") and the modules of ours they may import.
ALLOWED = {
    "errors": set(),
    "grammar": {"errors"},
    "spec": {"errors", "grammar"},
    "files": {"errors"},
    "weights": {"errors", "files"},
    "augment": {"errors", "spec"},
    "engine": {"errors", "spec"},
    "stats": set(),
    # a regression is measured by the run's own loss, the numpy engine's (as its training reported it)
    "task": {"stats", "phrases", "numpy.losses", "errors"},
    # the torch engine takes its initial weights from the numpy engine's initialisers (same numbers, same seed)
    "numpy.": {"errors", "spec", "engine", "weights", "augment", "files", "numpy."},
    "torch.": {"errors", "spec", "engine", "weights", "augment", "files", "torch.", "numpy.model", "numpy."},
}
#: The command line's package: nothing outside it imports it but ``__main__``.
CLI = "cli"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The layerlab modules ``path`` imports, as names relative to the package ("numpy.model", "spec")."""
    name = module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.removeprefix("layerlab.") for a in node.names if a.name.startswith("layerlab.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1] + ([node.module] if node.module else [])
            elif (node.module or "").startswith("layerlab"):
                base = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:  # `from . import api` names a module; `from .spec import parse` does not
                candidate = ".".join([*base, alias.name])
                found.add(candidate if resolve(candidate) else ".".join(base))
    return {m for m in (resolve(m) for m in found) if m and m != name}


def resolve(name: str) -> str | None:
    """The module a dotted name refers to, or None when it is not a module of ours."""
    path = PACKAGE.joinpath(*name.split(".")) if name else PACKAGE
    if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
        return name
    return None


GRAPH = {module_name(p): imports_of(p) for p in sorted(PACKAGE.rglob("*.py"))}


def allowed(rule: str, target: str) -> bool:
    return target == rule or (rule.endswith(".") and (target + ".").startswith(rule))


def rule_for(module: str) -> str | None:
    for rule in ALLOWED:
        if allowed(rule, module):
            return rule
    return None


def test_the_graph_is_read():
    assert GRAPH["train"] >= {"config", "engine", "hooks", "rundir", "spec"}
    assert "engine" in GRAPH["numpy.trainable"] and "numpy.model" in GRAPH["torch.model"]
    assert "experiments" in GRAPH["commands"]  # function-level imports count


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in GRAPH:
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if rule_for(m)))
def test_lower_layers_import_only_what_is_below_them(module):
    rule = rule_for(module)
    upward = sorted(t for t in GRAPH[module] if not any(allowed(ok, t) for ok in ALLOWED[rule]))
    assert not upward, f"{module} imports {', '.join(upward)}: not allowed for {rule}"


def in_cli(module: str) -> bool:
    return module == CLI or module.startswith(CLI + ".")


def test_nothing_below_the_cli_imports_it():
    users = sorted(m for m, targets in GRAPH.items() if any(map(in_cli, targets)) and not in_cli(m) and m != "__main__")
    assert not users, f"{', '.join(users)} import the command line"


def command_modules() -> set[str]:
    """The modules of ``layerlab/cli/`` that declare a command (call ``add_command``)."""
    found = set()
    for path in sorted((PACKAGE / CLI).glob("*.py")):
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)]
        if any(getattr(call.func, "id", getattr(call.func, "attr", None)) == "add_command" for call in calls):
            found.add(module_name(path))
    return found


def test_no_cli_module_imports_another_commands_module():
    """A command's module imports the shared ones (flags, notes), never another command's; only the
    package's ``__init__`` assembles them."""
    commands = command_modules()
    assert {"cli.train", "cli.search", "cli.tuning"} <= commands and "cli.flags" not in commands
    crossing = [
        f"{module} imports {target}"
        for module in sorted(m for m in GRAPH if in_cli(m) and m != CLI)
        for target in sorted(GRAPH[module] & commands - {module})
    ]
    assert not crossing, "; ".join(crossing)


def test_every_commands_flags_are_declared_in_its_module(monkeypatch):
    """Each command's parser and all its flags come from one module (the shared flags of ``cli/flags.py``
    count as the caller's: ``add_train_flags(p)`` in train.py declares train's flags in train.py)."""
    import argparse
    import sys

    from layerlab import cli

    def declaring_module() -> str:  # the first caller outside argparse, the shared flags and this recording
        frame = sys._getframe(2)
        while frame.f_globals["__name__"] in ("argparse", "layerlab.cli.flags", __name__):
            frame = frame.f_back
        return frame.f_globals["__name__"].removeprefix("layerlab.")

    created: dict[int, tuple[str, str]] = {}  # parser -> (command, module)
    flags: dict[int, list[tuple[str, str]]] = {}  # parser -> [(flag, module)]
    add_parser, add_argument = argparse._SubParsersAction.add_parser, argparse.ArgumentParser.add_argument

    def recording_add_parser(self, name, **kwargs):
        parser = add_parser(self, name, **kwargs)
        created[id(parser)] = (name, declaring_module())
        return parser

    def recording_add_argument(self, *names, **kwargs):
        flags.setdefault(id(self), []).append(("/".join(names) or kwargs.get("dest", "?"), declaring_module()))
        return add_argument(self, *names, **kwargs)

    monkeypatch.setattr(argparse._SubParsersAction, "add_parser", recording_add_parser)
    monkeypatch.setattr(argparse.ArgumentParser, "add_argument", recording_add_argument)
    cli.parser()
    assert len(created) == 19 and all(len(flags[parser]) >= 2 for parser in created)  # -h and --debug at least
    assert all(module in command_modules() for _, module in created.values())
    elsewhere = [
        f"{command}'s {flag} in {module} (not {home})"
        for parser, (command, home) in created.items()
        for flag, module in flags[parser]
        if module != home
    ]
    assert not elsewhere, f"flags declared outside their command's module: {', '.join(elsewhere)}"


def test_the_cli_declares_flags_in_command_modules_and_the_shared_flags_only():
    """``add_argument`` appears in the command modules and ``cli/flags.py``, nowhere else in the package."""
    allowed_modules = command_modules() | {"cli.flags"}
    found = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path in sorted((PACKAGE / CLI).glob("*.py"))
        if module_name(path) not in allowed_modules
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "add_argument"
    ]
    assert not found, f"flags declared outside a command's module: {', '.join(found)}"


TASK_NAMES = {"classification", "regression"}


def test_only_the_task_module_compares_task_names():
    """What differs between the tasks lives in task.py: no ``x == "regression"`` anywhere else."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if module_name(path) == "task":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(
                isinstance(side, ast.Constant) and side.value in TASK_NAMES for side in [node.left, *node.comparators]
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not found, f"task names compared outside task.py (ask the Task object instead): {', '.join(found)}"


def test_the_formatter_is_not_fought_line_by_line():
    skipped = [
        f"{path.relative_to(PACKAGE.parent)}:{i}"
        for path in sorted([*PACKAGE.rglob("*.py"), *PACKAGE.parent.glob("tests/**/*.py")])
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if line.rstrip().endswith("# fmt" + ": skip")
    ]
    assert not skipped, f"accept ruff format's output instead of skipping it: {', '.join(skipped)}"


def test_the_names_architecture_md_cites_exist():
    """ARCHITECTURE.md stays true: every module, file and name it cites in backticks is in the package."""
    import importlib
    import re

    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    root = PACKAGE.parent  # the package, its tests and its notebooks (whose cells set QUICK and OUT)
    sources = [*PACKAGE.rglob("*.py"), *root.glob("tests/*.py"), *PACKAGE.rglob("*.ipynb")]
    source = "\n".join(path.read_text() for path in sources)
    files = [path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*")]
    outside = {"Figure"}  # matplotlib's
    missing = []
    for token in sorted(set(re.findall(r"`([^`\s(]+)`", text)) - outside):
        if token.startswith("layerlab."):
            continue  # the public API, `layerlab.fit(...)`: test_api's
        if token.endswith((".py", "/")) or "/" in token:
            path = token.removeprefix("layerlab/").rstrip("/")
            known = (PACKAGE.parent / token).exists() or any(f == path or f.endswith("/" + path) for f in files)
            if not known and not any(f in (path + ".py", path.removesuffix(".py")) for f in files):
                missing.append(token)
        elif re.fullmatch(r"[a-z_]+\.[A-Za-z_]+", token) and resolve(token.split(".")[0]):
            module, name = token.split(".")
            if not hasattr(importlib.import_module(f"layerlab.{module}"), name):
                missing.append(token)
        elif re.fullmatch(r"[A-Z][A-Za-z_]+(\.[a-z_]+)?", token):
            name = token.split(".")[0]
            defined = rf"^\s*(\"\s*)?(class {name}\b|{name}\s*[:=]|def {name}\b)|environ[^\n]*\b{name}\b"
            if not re.search(defined, source, re.M):
                missing.append(token)
    assert not missing, f"ARCHITECTURE.md cites names the package does not have: {', '.join(missing)}"
