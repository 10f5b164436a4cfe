"""`seqrnn data fetch NAME`: download a well-known corpus, checked by sha256."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Corpora for the text task.", no_args_is_help=True)


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(help="Which corpus: tinyshakespeare.")],
    directory: Annotated[
        Path, typer.Option("--dir", file_okay=False, help="Where to put it.")
    ] = Path("data"),
    origin: Annotated[
        str | None, typer.Option(help="Download from this URL instead (a mirror).")
    ] = None,
) -> None:
    """Download a corpus into data/ (once), verify its sha256 and print its path."""
    from seqrnn.tasks.downloads import fetch as fetch_corpus

    typer.echo(str(fetch_corpus(name, directory, origin)))
