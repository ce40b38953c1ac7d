"""`python -m looped`: the `looped` command (looped/cli/__init__.py)."""

import sys

from looped.cli import main

if __name__ == "__main__":
    sys.exit(main())
