#!/usr/bin/env bash
# Install what graphir's TikZ tests and paper figures need, only when missing:
# pdflatex and lualatex (texlive-latex-base, -recommended, -pictures, -luatex)
# and pdftoppm (poppler-utils). Idempotent: does nothing when all are present.
# Needs root (or sudo) and Debian/Ubuntu's apt-get.
set -euo pipefail

missing=()
for tool in pdflatex lualatex pdftoppm; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
# TikZ and amssymb must be there too (texlive-pictures / texlive-latex-recommended)
if command -v kpsewhich >/dev/null 2>&1; then
    for file in tikz.sty amssymb.sty; do
        [ -n "$(kpsewhich "$file" 2>/dev/null)" ] || missing+=("$file")
    done
fi
if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup_latex: pdflatex, lualatex, pdftoppm, tikz and amssymb are present"
    exit 0
fi
echo "setup_latex: missing ${missing[*]}; installing TeX Live and poppler-utils"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup_latex: run as root or install sudo" >&2; exit 1; }
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
    texlive-latex-base texlive-latex-recommended texlive-pictures texlive-luatex poppler-utils
for tool in pdflatex lualatex pdftoppm; do
    command -v "$tool" >/dev/null 2>&1 || { echo "setup_latex: $tool still missing" >&2; exit 1; }
done
echo "setup_latex: done"
