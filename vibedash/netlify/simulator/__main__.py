"""``python -m vibedash.netlify.simulator``: the same as ``python -m vibedash netlify-sim``."""

from vibedash.netlify.simulator.cli import main

raise SystemExit(main())
