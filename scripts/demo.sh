#!/usr/bin/env bash
# Set up (see bootstrap.sh), then render the bundled ONNX sample to SVG and PNG in out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
mkdir -p out
.venv/bin/python cli.py render samples/resnet_tiny.onnx -o out/resnet_tiny.svg
.venv/bin/python cli.py render samples/resnet_tiny.onnx -o out/resnet_tiny.png
.venv/bin/python cli.py render samples/resnet_tiny.onnx -o out/resnet_tiny.html
echo "demo: wrote out/resnet_tiny.svg, out/resnet_tiny.png and out/resnet_tiny.html (open it in a browser)"
