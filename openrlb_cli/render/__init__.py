"""Rendering stored curves for people: figures (matplotlib, Agg), score tables and the report bundle.

Submodules are imported on demand (`openrlb_cli.render.figures` pulls in matplotlib, which a
table-only command should not pay for).
"""
