"""`seqrnn data fetch NAME`: download a well-known corpus, checked by sha256."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.help import Group

app = typer.Typer(help="Corpora for the text task.", no_args_is_help=True, cls=Group)


def fetch(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Which corpus: tinyshakespeare.")],
    directory: Annotated[
        Path, typer.Option("--dir", metavar="DIR", file_okay=False, help="Where to put it.")
    ] = Path("data"),
    origin: Annotated[
        str | None,
        typer.Option(
            metavar="URL", help="Download from this URL (a mirror).", show_default="the origin"
        ),
    ] = None,
) -> None:
    """Download a corpus into data/ (once), verify its sha256 and print its path.

    Examples:
    seqrnn data fetch tinyshakespeare
    seqrnn data fetch tinyshakespeare --dir corpora
    """
    from seqrnn.tasks.downloads import fetch as fetch_corpus

    typer.echo(str(fetch_corpus(name, directory, origin)))
