"""`python -m tools.plan_report`: see the package's docstring."""

import sys

from tools.plan_report.cli import main

sys.exit(main())
