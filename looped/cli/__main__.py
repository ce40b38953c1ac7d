"""`python -m looped.cli`: the `looped` command."""

import sys

from looped.cli.main import main

sys.exit(main())
