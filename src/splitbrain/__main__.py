"""``python -m splitbrain``: the same command line as ``splitbrain``.

``python -m`` puts the working directory first on ``sys.path``; a file there could
then stand in for any module imported later (as root, from a downloaded store).
It is taken off: plugins typed on the command line still load from it
(:func:`splitbrain.registry.plugins_from_cwd` adds it back, last).
"""

import os
import sys

if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from splitbrain.cli import main  # noqa: E402 - after the path fix above

sys.exit(main())
