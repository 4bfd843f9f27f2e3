"""The storefront's benchmark: `python -m bench` (bench/README.md says what it measures and why).

Kept empty on purpose: uvicorn imports this package to serve bench.bare_app and bench.floor_app.
"""
