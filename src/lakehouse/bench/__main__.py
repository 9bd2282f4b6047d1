"""`python -m lakehouse.bench` runs the benchmark (see `lakehouse.bench.run`)."""

import sys

from lakehouse.bench.run import main

sys.exit(main())
