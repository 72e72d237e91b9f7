"""``python -m handwriting.cli``."""

import sys

from . import main

sys.exit(main())
