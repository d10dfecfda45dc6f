"""``python -m nni_autotsnet.latency``: see :mod:`nni_autotsnet.latency.cli`."""

import sys

from .cli import main

sys.exit(main())
