"""``python -m tlhelpers.cli``: the ``tlh`` command line without the installed script."""

import sys

from tlhelpers.cli.commands import main

sys.exit(main())
