"""``python -m rnnx.cli``."""

from rnnx.cli import main

raise SystemExit(main())
