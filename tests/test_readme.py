"""The README's Python examples run, its images exist, and the gallery is current."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_has_python_examples():
    assert len(PYTHON_BLOCKS) >= 2


@pytest.mark.needs_dot
@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_python_example_runs(index):
    (ROOT / "out").mkdir(exist_ok=True)
    result = subprocess.run([sys.executable, "-c", PYTHON_BLOCKS[index]], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr


def test_every_linked_image_exists():
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README)
    assert links
    for link in links:
        assert (ROOT / link).is_file(), link


@pytest.mark.needs_dot
def test_gallery_is_current():
    """One cheap gallery entry re-rendered equals the committed image (determinism)."""
    result = subprocess.run([sys.executable, "scripts/gallery.py", "--check", "resnet_tiny_onnx",
                             "gpt2_diff"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
