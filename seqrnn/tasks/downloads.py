"""Well-known corpora that `seqrnn data fetch` downloads, each checked against its sha256."""

from __future__ import annotations

import contextlib
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from seqrnn.errors import SeqrnnError, UsageError


@dataclass(frozen=True)
class Download:
    filename: str
    origin: str
    sha256: str
    about: str


DOWNLOADS = {
    "tinyshakespeare": Download(
        filename="tinyshakespeare.txt",
        origin="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        about="char-rnn's tiny Shakespeare, 1,115,394 characters, 65 distinct",
    ),
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(name: str, directory: str | Path = "data", origin: str | None = None) -> Path:
    """Downloads corpus `name` into `directory` (once) and checks its sha256; returns its path.

    A file already there with the right checksum is kept as it is; one with another checksum
    is never overwritten.
    """
    if name not in DOWNLOADS:
        raise UsageError(f"unknown corpus {name!r}; choose one of {', '.join(DOWNLOADS)}")
    item = DOWNLOADS[name]
    directory = Path(directory).resolve()
    target = directory / item.filename
    if target.exists():
        if sha256_of(target) == item.sha256:
            return target
        raise SeqrnnError(
            f"{target} exists and is not {name} (its sha256 differs); move it away and fetch again"
        )
    import keras

    directory.mkdir(parents=True, exist_ok=True)
    try:
        # Keras reports the download on stdout; stdout is for results, so it goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            path = keras.utils.get_file(
                fname=item.filename,
                origin=origin or item.origin,
                file_hash=item.sha256,
                hash_algorithm="sha256",
                cache_dir=str(directory),
                cache_subdir="",
            )
    except Exception as error:  # network failures, HTTP errors and checksum mismatches alike
        target.unlink(missing_ok=True)
        lines = str(error).strip().splitlines() or [type(error).__name__]
        reason = lines[0].split(" -- ")[-1]  # Keras repeats the URL before " -- "
        raise SeqrnnError(
            f"could not fetch {name} from {origin or item.origin}: {reason}; check the network, "
            f"or copy the file to {target} (sha256 {item.sha256})"
        ) from error
    return Path(path)
