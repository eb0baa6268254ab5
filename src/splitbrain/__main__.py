"""``python -m splitbrain``: the same command line as ``splitbrain``."""

import sys

from splitbrain.cli import main

sys.exit(main())
