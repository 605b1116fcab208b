"""`python -m jaxmf ...`: the `jaxmf` command line."""

import sys

from .cli import main

sys.exit(main())
