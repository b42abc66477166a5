#!/usr/bin/env bash
# Set up everything graphir needs on a fresh Debian machine, idempotently:
# the Debian packages below when missing, a virtualenv in .venv, and
# the pinned dependencies from constraints.txt (torch==2.13.0 is the CPU wheel).
# Re-running is cheap: pip runs only when pyproject.toml or constraints.txt change.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: Graphviz (drawing), Chromium (the HTML viewer's
# browser tests, driven by Playwright with executable_path), TeX Live and poppler
# (TikZ figures compiled with pdflatex/lualatex, pages turned into PNGs).
need=""
command -v dot >/dev/null 2>&1 || need="$need graphviz"
[ -x /usr/bin/chromium ] || need="$need chromium"
command -v pdflatex >/dev/null 2>&1 || need="$need texlive-latex-base texlive-latex-recommended texlive-pictures"
command -v lualatex >/dev/null 2>&1 || need="$need texlive-luatex"
command -v pdftoppm >/dev/null 2>&1 || need="$need poppler-utils"
if [ -n "$need" ]; then
    echo "bootstrap: installing Debian packages:$need (first run takes a few minutes)" >&2
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv with $($PYTHON --version)" >&2
    "$PYTHON" -m venv .venv
fi

stamp=".venv/.graphir-deps"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "bootstrap: installing pinned dependencies into .venv (first run takes a minute)" >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt \
        -e ".[torch,safetensors,plot,bench,hf,numeric,pydot,test]"
    echo "$want" > "$stamp"
fi
