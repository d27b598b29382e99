"""Side-by-side benchmarks of asyncjobs against what a user would otherwise write, on the providers'
sandboxes over loopback. Run ``python -m benchmarks`` (``--help`` for options); see
``docs/performance.md`` for what each figure means."""
