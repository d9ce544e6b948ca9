"""``python -m sdk.cli``: the ``whylens`` command."""

from . import main

main()
