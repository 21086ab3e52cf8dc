"""``python -m qa``: the same as the ``qa`` script."""

from qa.cli import main

main()
