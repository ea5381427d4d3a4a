"""agent_core stands alone: it imports nothing from Django, Channels, Celery, DRF or tasks_app."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("django", "channels", "celery", "rest_framework", "daphne", "channels_redis", "tasks_app", "project")


def forbidden_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found += [n for n in names if n.split(".")[0] in FORBIDDEN]
    return found


def test_scanner_catches_forbidden_imports():
    assert forbidden_imports("import django.conf\nfrom celery import shared_task\nimport json") == [
        "django.conf",
        "celery",
    ]
    assert forbidden_imports("def f():\n    from tasks_app.models import Task\n") == ["tasks_app.models"]


def test_agent_core_imports_no_framework():
    offenders = {
        str(p.relative_to(ROOT)): bad
        for p in (ROOT / "agent_core").rglob("*.py")
        if (bad := forbidden_imports(p.read_text()))
    }
    assert offenders == {}


def test_import_linter_contract_holds():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agent_core stands alone" in result.stdout
