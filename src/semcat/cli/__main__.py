"""``python -m semcat.cli``: the same as the ``semcat`` console script."""

from semcat.cli import main

main()
