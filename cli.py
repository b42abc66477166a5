"""``python cli.py ...`` runs the graphir command line (same as ``python -m graphir``)."""
import sys

from graphir.cli import main

sys.exit(main())
