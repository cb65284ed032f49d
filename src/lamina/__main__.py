"""`python -m lamina`: the `lamina` command."""

from __future__ import annotations

import sys

from lamina.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
