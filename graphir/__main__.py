"""``python -m graphir ...`` runs the graphir command line."""
import sys

from graphir.cli import main

sys.exit(main())
