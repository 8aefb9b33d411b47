"""The code's shape: imports go playground → accounts → bigmodel and gateway → accounts → bigmodel,
never back up or across, and runtime serves them all; services do not know Celery, every Redis key
has one home, modules stay small."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "playground", "gateway", "config", "runtime", "bigmodel")
# What each package may not import: runtime, what every process runs on, may serve any app and
# knows none of them; config (the settings, URLs and entry points) puts them together.
NEVER = {
    "bigmodel": ("accounts", "playground", "gateway", "config", "runtime"),
    "accounts": ("playground", "gateway"),
    "playground": ("gateway",),
    "gateway": ("playground",),
    "config": ("playground", "gateway"),
    "runtime": ("accounts", "playground", "gateway", "config"),
}
KEYS = ROOT / "runtime" / "keys.py"
MAX_LINES = 400


def modules(package: str) -> list[Path]:
    return sorted(path for path in (ROOT / package).rglob("*.py") if "migrations" not in path.parts)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("package", NEVER)
def test_imports_never_go_back_up(package):
    upward = {
        name(path): sorted(m for m in imported(path) if m.split(".")[0] in NEVER[package])
        for path in modules(package)
    }
    assert {path: found for path, found in upward.items() if found} == {}


@pytest.mark.parametrize("app", ["accounts", "playground"])
def test_services_ask_for_background_work_without_importing_tasks(app):
    services = [*modules(f"{app}/services"), ROOT / app / "selectors.py"]
    importing = {
        name(path): sorted(m for m in imported(path) if m.endswith(".tasks") or ".tasks." in m)
        for path in services
    }
    assert {path: found for path, found in importing.items() if found} == {}


def shapes(path: Path) -> set[str]:
    """The strings ``path`` spells, an f-string's fields as {}: "apikey:{}:minute"."""
    found, parts = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.JoinedStr):
            parts |= {id(part) for part in node.values}
            found.add(
                "".join(
                    part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
                )
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in parts:
                found.add(node.value)
    return found


def redis_keys() -> set[str]:
    """The keys runtime/keys.py spells: "prefix:…", with no spaces (its docstrings have them)."""
    return {shape for shape in shapes(KEYS) if re.fullmatch(r"[a-z]+:[^ ]*", shape)}


def test_every_redis_key_is_spelled_in_one_place():
    assert {"kept:stamp", "reply:{}:{}", "apikey:{}:flying", "usage:{}"} <= redis_keys()
    spelled_again = {
        name(path): sorted(shapes(path) & redis_keys())
        for package in APPS
        for path in modules(package)
        if path != KEYS
    }
    assert {path: found for path, found in spelled_again.items() if found} == {}


def test_no_module_of_the_apps_is_over_the_limit():
    long = {
        name(path): lines
        for package in APPS
        for path in modules(package)
        if package != "bigmodel" or "simulator" not in path.parts
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
