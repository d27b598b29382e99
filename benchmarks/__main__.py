"""``python -m benchmarks``: run every benchmark, print the table, write the JSON."""

from __future__ import annotations

from .run import main

raise SystemExit(main())
