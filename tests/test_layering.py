"""The floors: each package imports only its own floor's code and the floors below it.

    core < accounts < sessions_app < billing < reporting, roaming < demo, chargeportal

Packages on one floor do not import each other either. A lower floor reaches a higher one only through
the registration points in ``sessions_app/hooks.py`` and ``accounts/hooks.py`` (the higher app registers
itself there: billing in the first, sessions_app's local lists in the second, for cards that changed), never
by importing it; ``tests`` and ``bench`` may import anything.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOORS = {
    "core": 0,
    "accounts": 1,
    "sessions_app": 2,
    "billing": 3,
    "reporting": 4,
    "roaming": 4,
    "demo": 5,
    "chargeportal": 5,
}


def _modules() -> list[Path]:
    return sorted(path for package in FLOORS if (ROOT / package).is_dir() for path in (ROOT / package).rglob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    """The project packages ``path`` imports, at any depth of the module (also inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name.split(".")[0] for name in names} & FLOORS.keys()


def test_the_floors_are_known_packages():
    assert {"core", "accounts", "sessions_app", "billing", "reporting", "demo", "chargeportal"} <= {
        package for package in FLOORS if (ROOT / package).is_dir()
    }


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_a_module_imports_only_its_own_package_and_lower_floors(path: Path):
    package = path.relative_to(ROOT).parts[0]
    against = sorted(
        other for other in _imported_packages(path) if other != package and FLOORS[other] >= FLOORS[package]
    )
    assert not against, f"{package} (floor {FLOORS[package]}) imports {against}"
