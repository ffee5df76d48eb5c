"""``python -m escalation_fsm``: the same as the ``escalation-fsm`` console script."""

import sys

from .cli import main

sys.exit(main())
