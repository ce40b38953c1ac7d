"""`python -m looped.cli`: the `looped` command."""

import sys

from looped.cli.shell import main

sys.exit(main())
