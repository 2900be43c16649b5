"""The layering is a checked rule: `lint-imports` runs the import contracts in setup.cfg."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    # The venv's own interpreter, from the project root (where setup.cfg holds the contracts).
    command = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    result = subprocess.run([sys.executable, "-c", command, "--no-cache"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


PROJECT_PACKAGES = {"app", "server", "core", "handlers", "models", "realtime", "schemas", "services"}


def test_migrations_are_frozen():
    # A migration that imported live code would change what it did whenever that code changes.
    import ast

    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in PROJECT_PACKAGES, f"{path.name} imports {name}"


def test_no_domain_module_sits_outside_a_context():
    loose = sorted(p.name for p in (ROOT / "services").glob("*.py") if p.name != "__init__.py")
    assert loose == []
    for package in (p for p in (ROOT / "services").iterdir() if p.is_dir() and p.name != "__pycache__"):
        doc = ast_docstring(package / "__init__.py")
        assert doc and len(doc) > 40, f"services/{package.name} says what it owns"


def ast_docstring(path: Path) -> str | None:
    import ast

    return ast.get_docstring(ast.parse(path.read_text()))
