"""``python -m calogeo`` runs the command line."""

import sys

from calogeo.cli import main

sys.exit(main())
