"""``python -m bot``: the same as the ``dreambot`` console script."""

from bot.cli import main

raise SystemExit(main())
