"""A UTF-8 text file as a compact array of character ids, read in blocks.

The file is read twice, block by block: once to find the characters it uses, once to encode it.
Memory stays a few blocks wide whatever the file's size; a large corpus is encoded into a
memory-mapped file instead of RAM.
"""

from __future__ import annotations

import codecs
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqrnn.errors import UsageError

BLOCK_BYTES = 1 << 22  # 4 MiB of the file at a time
MEMMAP_BYTES = 1 << 28  # corpora above 256 MiB are encoded into a memory-mapped file
MAX_VOCABULARY = 65_535
_UNICODE_SIZE = 0x110000
BOM = "\ufeff"
_NON_ASCII = re.compile("[^\x00-\x7f]")


@dataclass(frozen=True)
class Corpus:
    """An encoded text: `ids[i]` is the index of the i-th character in `vocabulary`."""

    path: Path
    vocabulary: str  # the distinct characters in code-point order
    ids: np.ndarray  # uint8 or uint16, one id per character (maybe memory-mapped)

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def decode(self, ids) -> str:
        return "".join(self.vocabulary[i] for i in np.asarray(ids).ravel())


def check_text_file(path: str | os.PathLike) -> Path:
    """The path of a readable, non-empty regular file, or a `UsageError` saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: no such file; give the path of a UTF-8 text file")
    if path.is_dir():
        raise UsageError(f"{path}: is a directory; give the path of a UTF-8 text file")
    if not path.is_file():
        raise UsageError(
            f"{path}: not a regular file (a FIFO, a device or a socket); give the path of a "
            "UTF-8 text file"
        )
    if path.stat().st_size == 0:
        raise UsageError(f"{path}: the file is empty; a text corpus needs characters to learn")
    return path


def _blocks(path: Path):
    """Yields (bytes, text) for successive blocks of the file, validated as UTF-8.

    `text` is None for a block of pure ASCII (the common case for novels), whose bytes are
    already its code points; other blocks go through Python's incremental UTF-8 decoder.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as stream:
        while True:
            data = stream.read(BLOCK_BYTES)
            final = len(data) < BLOCK_BYTES
            pending = len(decoder.getstate()[0])  # bytes of a character cut by the last block
            if not pending and data.isascii():
                yield data, None
            else:
                try:
                    text = decoder.decode(data, final=final)
                except UnicodeDecodeError as error:
                    where = offset - pending + error.start
                    raise UsageError(
                        f"{path}: not UTF-8 text: byte 0x{error.object[error.start]:02x} at "
                        f"offset {where} ({error.reason}); convert the file to UTF-8, for "
                        "example with iconv -f LATIN1 -t UTF-8"
                    ) from None
                if offset == 0 and text.startswith(BOM):
                    text = text[1:]
                yield data, text
            offset += len(data)
            if final:
                return


def _code_points(data: bytes, text: str | None) -> np.ndarray:
    if text is None:
        return np.frombuffer(data, dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def read_corpus(
    path: str | os.PathLike,
    memmap_dir: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Corpus:
    """Reads and encodes a UTF-8 text file (a leading byte-order mark is dropped).

    `progress(bytes read, bytes to read)` is called after each block of both passes.
    """
    path = check_text_file(path)
    total = 2 * path.stat().st_size
    done = 0

    def advance(data: bytes) -> None:
        nonlocal done
        done += len(data)
        if progress is not None:
            progress(done, total)

    present = np.zeros(_UNICODE_SIZE, dtype=bool)
    length = 0
    for data, text in _blocks(path):
        advance(data)
        # ASCII characters are their own bytes; the others are few in most texts, so they are
        # picked out of the decoded text rather than converting every character.
        counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
        present[:128] |= counts[:128] > 0
        if text is None:
            length += len(data)
        else:
            present[[ord(c) for c in set(_NON_ASCII.findall(text))]] = True
            length += len(text)
    if length == 0:
        raise UsageError(f"{path}: the file holds no characters besides a byte-order mark")
    vocabulary_codes = np.flatnonzero(present)
    if len(vocabulary_codes) > MAX_VOCABULARY:
        raise UsageError(
            f"{path}: {len(vocabulary_codes)} distinct characters, more than the "
            f"{MAX_VOCABULARY} a character model supports; is this a text file?"
        )
    dtype = np.uint8 if len(vocabulary_codes) <= 256 else np.uint16
    table = np.zeros(_UNICODE_SIZE, dtype=dtype)
    table[vocabulary_codes] = np.arange(len(vocabulary_codes), dtype=dtype)
    vocabulary = "".join(chr(c) for c in vocabulary_codes)
    if length * np.dtype(dtype).itemsize <= MEMMAP_BYTES:
        ids = np.empty(length, dtype=dtype)
        position = 0
        for data, text in _blocks(path):
            advance(data)
            block = table[_code_points(data, text)]
            ids[position : position + len(block)] = block
            position += len(block)
        return Corpus(path=path, vocabulary=vocabulary, ids=ids)
    # Large: written block by block to a file and mapped read-only, so that only the pages in
    # use are resident. The file is unlinked at once; the mapping keeps its data alive.
    handle, name = tempfile.mkstemp(suffix=".ids", dir=memmap_dir)
    try:
        with os.fdopen(handle, "wb") as out:
            for data, text in _blocks(path):
                advance(data)
                out.write(table[_code_points(data, text)].tobytes())
        ids = np.memmap(name, dtype=dtype, mode="r", shape=(length,))
    finally:
        os.unlink(name)
    return Corpus(path=path, vocabulary=vocabulary, ids=ids)
