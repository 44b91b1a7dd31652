"""``python -m sam_edge`` runs the CLI."""

import sys

from sam_edge.cli import main

sys.exit(main())
