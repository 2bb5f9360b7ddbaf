"""`python -m digitserve_client`: the same as the `digitserve` command."""

from __future__ import annotations

import sys

from digitserve_client.cli import main

sys.exit(main())
