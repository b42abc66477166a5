"""mypy over graphir/ finds no type error (the public modules are annotated throughout)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PUBLIC = ["graphir/api.py", "graphir/graph.py", "graphir/ir.py", "graphir/outputs.py",
          "graphir/sources.py", "graphir/loaders/door.py"]


def test_mypy_finds_no_errors():
    pytest.importorskip("mypy")
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary",
                           "--cache-dir", "/tmp/graphir-mypy-cache"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_public_functions_are_annotated():
    import ast

    missing = []
    for rel in PUBLIC:
        tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                if node.returns is None:
                    missing.append(f"{rel}:{node.name}")
    assert not missing, f"public functions without a return annotation: {missing}"
