"""``python -m tfdirectspec`` is the ``tfdirectspec`` command."""

import sys

from tfdirectspec.cli import main

sys.exit(main())
