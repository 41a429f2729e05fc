"""`python -m openrlb_cli` runs the same CLI as the `openrlb` console script."""

from openrlb_cli.cli import main

main()
