"""``python -m sam_edge.scenes --out DIR --seed S --count N``: write example scenes as PNGs."""

import sys

from .preview import main

sys.exit(main())
