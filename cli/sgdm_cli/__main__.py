"""``python -m sgdm_cli``: the same as the ``sgdm`` command."""

from .app import main

main()
