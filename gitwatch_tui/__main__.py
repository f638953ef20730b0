"""`python -m gitwatch_tui` runs the command line."""

import sys

from gitwatch_tui.cli import main

sys.exit(main())
