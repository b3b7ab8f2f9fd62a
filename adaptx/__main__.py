"""`python -m adaptx` (and `accelerate launch -m adaptx run CONFIG`): the same as the `adaptx` command."""

import sys

from .cli import main

sys.exit(main())
