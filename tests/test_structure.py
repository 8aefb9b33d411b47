"""The code's shape: imports go playground → accounts → bigmodel and gateway → accounts → bigmodel,
never back up or across; services do
not know Celery, the reply stream's keys have one home, modules stay small."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "playground", "gateway", "config", "bigmodel")
# What each package may not import; config is the project's own plumbing and may serve any app.
NEVER = {
    "bigmodel": ("accounts", "playground", "gateway"),
    "accounts": ("playground", "gateway"),
    "playground": ("gateway",),
    "gateway": ("playground",),
    "config": ("playground", "gateway"),
}
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


def test_only_the_reply_stream_module_spells_a_reply_key():
    spelled = [
        name(path)
        for package in APPS
        for path in modules(package)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("reply:")
    ]
    assert spelled == ["playground/reply_stream.py"]


def test_no_module_of_the_apps_is_over_the_limit():
    long = {
        name(path): lines
        for package in APPS
        for path in modules(package)
        if package != "bigmodel" or "simulator" not in path.parts
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
