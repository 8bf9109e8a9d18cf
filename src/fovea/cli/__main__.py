"""``python -m fovea.cli``: the ``fovea`` command."""

import sys

from . import main

sys.exit(main())
