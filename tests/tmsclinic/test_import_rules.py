"""The import rules of the house (README, Architecture), read from the source with ``ast``:

1. Views, admin, commands, services and selectors never import a view module; only a URL map
   does. View modules are every ``views.py`` and the page modules of ``scheduling/staff/`` and
   ``scheduling/portal/``.
2. ``patients`` never imports ``scheduling`` (ruff's TID251 says the same).
3. ``tmsclinic`` is imported by both apps and imports neither at module level.
4. Services and selectors never import forms or pages: they are called by them.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("tmsclinic", "patients", "scheduling")
PAGE_PACKAGES = ("scheduling.staff", "scheduling.portal")
NOT_PAGES = ("urls", "forms", "__init__")


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_view_module(name):
    if name.split(".")[0] not in APPS:  # Django's own views are the framework's business
        return False
    package, _, leaf = name.rpartition(".")
    return leaf == "views" or (package in PAGE_PACKAGES and leaf not in NOT_PAGES)


def imports(source, name, *, is_package=False):
    """(imported module, at module level?) for every import in ``source``, relative imports
    resolved against module ``name``. ``from a import b`` yields both ``a`` and ``a.b``, since
    ``b`` may be a module."""
    package = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(source)
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module
            yield module, id(node) in top_level
            for alias in node.names:
                yield f"{module}.{alias.name}", id(node) in top_level


def violations(source, name, *, is_package=False):
    """Every broken rule in one module's source, in words."""
    found = []
    leaf = name.rpartition(".")[2]
    for imported, module_level in imports(source, name, is_package=is_package):
        if is_view_module(imported) and leaf != "urls" and imported != name:
            found.append(f"{name} imports the view module {imported}: only URL maps import views")
        if name.startswith("patients") and imported.split(".")[0] == "scheduling":
            found.append(f"{name} imports {imported}: patients never imports scheduling")
        if name.startswith("tmsclinic") and module_level and imported.split(".")[0] in ("patients", "scheduling"):
            found.append(f"{name} imports {imported} at module level: tmsclinic imports the apps only in functions")
        if (leaf in ("services", "selectors") or ".services" in name) and (
            imported.rpartition(".")[2] == "forms" or imported.startswith(PAGE_PACKAGES)
        ):
            found.append(f"{name} imports {imported}: services and selectors do not know forms or pages")
    return sorted(set(found))


def project_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def test_the_project_keeps_the_import_rules():
    checked = 0
    broken = []
    for path in project_modules():
        broken += violations(path.read_text(), module_name(path), is_package=path.name == "__init__.py")
        checked += 1
    assert checked > 40
    assert broken == []


@pytest.mark.parametrize(("name", "source", "expected"), [
    ("scheduling.admin", "from .staff.appointments import ACTIONS",
     "scheduling.admin imports the view module scheduling.staff.appointments"),
    ("scheduling.staff.worklist", "from .appointments import book",
     "scheduling.staff.worklist imports the view module scheduling.staff.appointments"),
    ("scheduling.management.commands.seed_demo", "from scheduling.portal import views",
     "imports the view module scheduling.portal.views"),
    ("patients.services", "from scheduling.models import Appointment", "patients never imports scheduling"),
    ("patients.views", "def f():\n    import scheduling.selectors\n", "patients never imports scheduling"),
    ("tmsclinic.context_processors", "from scheduling.selectors import open_flag_counts",
     "tmsclinic imports the apps only in functions"),
    ("scheduling.services.booking", "from ..staff.forms import BookingForm", "do not know forms or pages"),
    ("scheduling.selectors", "from patients import forms", "do not know forms or pages"),
])
def test_a_broken_rule_is_reported(name, source, expected):
    assert any(expected in found for found in violations(source, name))


@pytest.mark.parametrize(("name", "source"), [
    ("scheduling.staff.urls", "from . import appointments, day\nfrom patients import views as patient_views"),
    ("tmsclinic.context_processors", "def counts():\n    from scheduling.selectors import open_flag_counts\n"),
    ("scheduling.staff.appointments", "from .forms import BookingForm\nfrom .. import selectors, services"),
    ("scheduling.services.courses", "from .booking import book_appointment"),
])
def test_what_the_rules_allow_passes(name, source):
    assert violations(source, name) == []
