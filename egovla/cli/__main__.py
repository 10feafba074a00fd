"""`python -m egovla.cli ...` (for torchrun / accelerate launch): the `egovla` command."""

import sys

from egovla.cli import main

sys.exit(main())
