"""``python -m asyncjobs``: the ``asyncjobs`` command."""

from .cli import main

raise SystemExit(main())
