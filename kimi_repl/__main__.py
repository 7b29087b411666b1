"""Entry point for ``python -m kimi_repl``."""

import sys

from kimi_repl.cli import main

sys.exit(main())
