"""The text task: reading, encoding, the three ways to cut windows, metrics and bad files."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from seqrnn.errors import UsageError
from seqrnn.tasks import TextTask, text_metrics
from seqrnn.tasks.corpus import read_corpus
from seqrnn.tasks.text import sequential_positions, sequential_windows
from tests.conftest import shakespeare

# 40 distinct characters in a known order: windows can be read back as strings.
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN"


@pytest.fixture
def small_text(tmp_path):
    path = tmp_path / "small.txt"
    path.write_text(ALPHABET * 3, encoding="utf-8")  # 120 characters
    return path


def windows(task, split, batch_size, count, seed=0):
    """The first `count` batches as (input strings, target strings)."""
    out = []
    for inputs, targets, weights in itertools.islice(task.batches(split, batch_size, seed), count):
        assert (weights == 1).all()
        out.append(
            ([task.decode(row) for row in inputs["tokens"]], [task.decode(r) for r in targets])
        )
    return out


class TestCorpus:
    def test_vocabulary_in_code_point_order_and_compact_ids(self, tmp_path):
        path = tmp_path / "t.txt"
        path.write_text("\ufeffhello, wörld\n", encoding="utf-8")  # a BOM, then 13 characters
        corpus = read_corpus(path)
        assert corpus.vocabulary == "".join(sorted(set("hello, wörld\n")))
        assert corpus.ids.dtype == np.uint8 and len(corpus.ids) == 13
        assert corpus.decode(corpus.ids) == "hello, wörld\n"

    def test_many_characters_use_uint16(self, tmp_path):
        path = tmp_path / "wide.txt"
        path.write_text("".join(chr(0x4E00 + i) for i in range(300)), encoding="utf-8")
        corpus = read_corpus(path)
        assert corpus.ids.dtype == np.uint16 and corpus.vocab_size == 300

    def test_blocks_that_cut_a_character_in_two(self, tmp_path, monkeypatch):
        from seqrnn.tasks import corpus as corpus_module

        monkeypatch.setattr(corpus_module, "BLOCK_BYTES", 7)  # cuts 2- and 3-byte characters
        text = "ä€x" * 50
        path = tmp_path / "cut.txt"
        path.write_text(text, encoding="utf-8")
        assert read_corpus(path).decode(read_corpus(path).ids) == text

    def test_large_corpus_is_memory_mapped(self, tmp_path, monkeypatch):
        from seqrnn.tasks import corpus as corpus_module

        monkeypatch.setattr(corpus_module, "MEMMAP_BYTES", 100)
        path = tmp_path / "big.txt"
        path.write_text(ALPHABET * 10, encoding="utf-8")
        corpus = read_corpus(path, memmap_dir=tmp_path)
        assert isinstance(corpus.ids, np.memmap)
        assert corpus.decode(corpus.ids) == ALPHABET * 10
        assert list(tmp_path.glob("*.ids")) == []  # nothing left behind on disk

    def test_tinyshakespeare(self):
        corpus = read_corpus(shakespeare())
        assert (corpus.vocab_size, len(corpus.ids)) == (65, 1_115_394)


class TestBadFiles:
    def test_missing(self, tmp_path):
        with pytest.raises(UsageError, match=r"nope\.txt: no such file"):
            read_corpus(tmp_path / "nope.txt")

    def test_directory(self, tmp_path):
        with pytest.raises(UsageError, match="is a directory"):
            read_corpus(tmp_path)

    def test_empty(self, tmp_path):
        (tmp_path / "e.txt").write_bytes(b"")
        with pytest.raises(UsageError, match=r"e\.txt: the file is empty"):
            read_corpus(tmp_path / "e.txt")

    def test_only_a_byte_order_mark(self, tmp_path):
        (tmp_path / "bom.txt").write_bytes("\ufeff".encode())
        with pytest.raises(UsageError, match="no characters besides a byte-order mark"):
            read_corpus(tmp_path / "bom.txt")

    @pytest.mark.parametrize("block", [1 << 24, 5])
    def test_not_utf8_names_the_offset(self, tmp_path, monkeypatch, block):
        from seqrnn.tasks import corpus as corpus_module

        monkeypatch.setattr(corpus_module, "BLOCK_BYTES", block)
        (tmp_path / "latin1.txt").write_bytes("héllo wörld".encode() + b" caf\xe9!")
        with pytest.raises(UsageError) as caught:
            read_corpus(tmp_path / "latin1.txt")
        message = str(caught.value)
        assert "latin1.txt: not UTF-8 text: byte 0xe9 at offset 17" in message

    def test_too_many_distinct_characters(self, tmp_path, monkeypatch):
        from seqrnn.tasks import corpus as corpus_module

        monkeypatch.setattr(corpus_module, "MAX_VOCABULARY", 10)
        (tmp_path / "many.txt").write_text(ALPHABET, encoding="utf-8")
        with pytest.raises(UsageError, match="40 distinct characters, more than the 10"):
            read_corpus(tmp_path / "many.txt")

    def test_shorter_than_one_window(self, tmp_path):
        (tmp_path / "short.txt").write_text("abc", encoding="utf-8")
        with pytest.raises(UsageError, match="too few for windows of 25"):
            TextTask(tmp_path / "short.txt")

    def test_bad_settings(self, small_text):
        with pytest.raises(UsageError, match="mode must be one of"):
            TextTask(small_text, mode="shuffled")
        with pytest.raises(UsageError, match="seq_len must be an integer >= 1"):
            TextTask(small_text, seq_len=0)
        with pytest.raises(UsageError, match="validation_fraction"):
            TextTask(small_text, validation_fraction=1.5)


class TestWindows:
    def test_split_holds_out_the_end(self, small_text):
        task = TextTask(small_text, seq_len=5, validation_fraction=0.1)
        assert task.decode(task.part("train")) == (ALPHABET * 3)[:108]
        assert task.decode(task.part("validation")) == (ALPHABET * 3)[108:]
        assert task.decode(task.part("test")) == task.decode(task.part("validation"))

    def test_sequential(self, small_text):
        task = TextTask(small_text, mode="sequential", seq_len=5)
        text = (ALPHABET * 3)[:108]
        stream = (108 - 1) // 2  # two streams of 53 characters
        assert task.batches_per_pass(2) == 53 // 5 == 10
        got = windows(task, "train", 2, 11)
        for w, (inputs, targets) in enumerate(got[:10]):
            for b in range(2):
                start = b * stream + w * 5
                assert inputs[b] == text[start : start + 5]
                assert targets[b] == text[start + 1 : start + 6]
        assert got[10] == got[0]  # a new pass starts over: the trainer resets the state here
        assert task.carries_state

    def test_sequential_with_one_stream_is_min_char_rnn(self, small_text):
        # min-char-rnn: p = 0, 25, 50, ... while p + seq_len + 1 <= len(data)
        positions = sequential_positions(108, 1, 25)
        assert [int(p[0, 0]) for p in positions] == [0, 25, 50, 75]

    @pytest.mark.parametrize(
        ("length", "batch", "seq_len"), [(108, 1, 25), (1000, 7, 5), (53, 4, 3)]
    )
    def test_windows_one_at_a_time_are_the_positions_of_the_pass(self, length, batch, seq_len):
        whole = sequential_positions(length, batch, seq_len)
        windows = list(sequential_windows(length, batch, seq_len))
        assert len(windows) == len(whole) > 0
        for got, want in zip(windows, whole, strict=True):
            np.testing.assert_array_equal(got, want)

    def test_random(self, small_text):
        task = TextTask(small_text, mode="random", seq_len=5)
        text = (ALPHABET * 3)[:108]
        starts = []
        for inputs, targets in windows(task, "train", 4, 50):
            for x, y in zip(inputs, targets, strict=True):
                start = text.find(x)  # the alphabet repeats, but x + the next char is unique
                assert start >= 0 and x[1:] + y[-1] == y and text[start + 1 : start + 6] == y
                starts.append(start)
        assert len(set(starts)) > 20  # positions vary from batch to batch
        assert not task.carries_state

    def test_chunks(self, small_text):
        task = TextTask(small_text, mode="chunks", seq_len=5, num_chunks=4)
        text = (ALPHABET * 3)[:108]
        chunk = 107 // 4  # 26 characters each
        chunks = [text[i * chunk : (i + 1) * chunk] for i in range(4)]
        per_pass = task.batches_per_pass(1)
        assert per_pass == (26 * 4) // 5
        read = windows(task, "train", 1, 2 * per_pass)
        orders = []
        for one_pass in (read[:per_pass], read[per_pass:]):
            inputs = "".join(x[0] for x, _ in one_pass)
            targets = "".join(y[0] for _, y in one_pass)
            # The pass reads the four chunks laid end to end in one of the 24 orders.
            matching = [
                order
                for order in itertools.permutations(range(4))
                if "".join(chunks[i] for i in order).startswith(inputs)
            ]
            assert len(matching) == 1
            laid = "".join(chunks[i] for i in matching[0])
            assert targets[:-1] == laid[1 : len(inputs)]
            orders.append(matching[0])
        assert orders[0] != orders[1]  # a new order every pass
        assert task.carries_state

    def test_validation_reads_the_held_out_text_once(self, small_text):
        task = TextTask(small_text, seq_len=5, validation_fraction=0.25)
        held_out = (ALPHABET * 3)[90:]
        got = windows(task, "validation", 2, 100)
        assert len(got) == (30 - 1) // 2 // 5
        assert got[0][0] == [held_out[0:5], held_out[14:19]]


class TestMetrics:
    def test_bits_and_perplexity(self):
        metrics = text_metrics(math.log(65))
        assert metrics["bits_per_char"] == pytest.approx(math.log2(65))
        assert metrics["perplexity"] == pytest.approx(65)


@pytest.mark.parametrize("mode", ["sequential", "random", "chunks"])
def test_deterministic_given_the_seed(small_text, mode):
    task = TextTask(small_text, mode=mode, seq_len=5, num_chunks=4)
    assert windows(task, "train", 2, 30, seed=3) == windows(task, "train", 2, 30, seed=3)
    if mode != "sequential":  # sequential has no randomness at all
        assert windows(task, "train", 2, 30, seed=3) != windows(task, "train", 2, 30, seed=4)


def test_a_missing_shared_corpus_fails_the_text_tests_saying_where_it_belongs(
    monkeypatch, tmp_path
):
    import tests.conftest as conftest

    monkeypatch.setattr(conftest, "SHAKESPEARE", tmp_path / "missing.txt")
    with pytest.raises(pytest.fail.Exception, match=r"tinyshakespeare\.txt beside the project"):
        conftest.shakespeare()


def test_validation_reads_at_most_val_chars_of_the_held_out_text(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abcdefghij" * 1000)  # 10,000 characters, the last 1,000 held out
    whole = TextTask(str(path), val_chars="all")
    bounded = TextTask(str(path), val_chars=300)
    assert len(whole.part("validation")) == 1000 and len(bounded.part("validation")) == 300
    np.testing.assert_array_equal(bounded.part("test"), whole.part("test")[:300])
    assert bounded.eval_batch_count("validation", 4) == len(
        list(bounded.batches("validation", 4, 0))
    )
    assert len(bounded.part("train")) == len(whole.part("train"))
