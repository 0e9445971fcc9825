"""The `sgdm` command line: a thin Typer shell over the `sgdm` library."""
