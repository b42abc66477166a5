"""Issue 14 through the CLI: a model against its export, by module, with --numeric."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")


def _cli(*args):
    return subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """resnet_tiny exported with the legacy exporter, and a copy with one Relu made Sigmoid."""
    import warnings

    from samples.resnet import resnet_tiny

    folder = tmp_path_factory.mktemp("export")
    model, args = resnet_tiny()
    path = folder / "resnet_tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), args, str(path), dynamo=False)
    proto = onnx.load(str(path))
    relu = [n for n in proto.graph.node if n.op_type == "Relu" and "layer1.1" in n.name]
    relu[-1].op_type = "Sigmoid"
    altered = folder / "altered.onnx"
    onnx.save(proto, str(altered))
    return path, altered


def test_faithful_export_agrees_and_an_altered_one_is_named(exported):
    path, altered = exported
    done = _cli("diff", "samples/resnet.py:resnet_tiny", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "module level" in done.stdout and "agree" in done.stdout
    done = _cli("diff", "samples/resnet.py:resnet_tiny", str(altered))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "layer1.1" in done.stdout and "Sigmoid" in done.stdout
    swapped = _cli("diff", str(altered), "samples/resnet.py:resnet_tiny")
    assert swapped.returncode == 1 and "layer1.1" in swapped.stdout


def test_numeric_diff_of_a_faithful_export_is_within_tolerance(exported):
    pytest.importorskip("onnxruntime")
    path, altered = exported
    done = _cli("diff", "samples/resnet.py:resnet_tiny", str(path), "--numeric")
    assert done.returncode == 0, done.stdout + done.stderr
    done = _cli("diff", "samples/resnet.py:resnet_tiny", str(altered), "--numeric",
                "--format", "json")
    assert done.returncode == 1
    assert '"numeric"' in done.stdout
