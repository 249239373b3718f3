"""`python -m mark1 ...` is the `mark1` command, usable from the source tree without installing."""

import sys

from mark1.cli import main

sys.exit(main())
