"""Root of the `sgdm` command."""

import typer

app = typer.Typer(
    name="sgdm",
    help="SGD with momentum under learning-rate and batch-size schedules (Kondo & Iiduka, 2025).",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the versions of sgdm and its native core."""
    import sgdm

    typer.echo(f"sgdm {sgdm.__version__}")


def main() -> None:
    app()
