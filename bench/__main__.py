"""`python -m bench`: the benchmark (a development tool; it runs from a checkout)."""

import sys

from bench.report import main

sys.exit(main())
