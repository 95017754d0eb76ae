"""`python -m loadtest --help`: see loadtest/run.py."""

import sys

from loadtest.run import main

sys.exit(main())
