"""`seqrnn tasks` and `seqrnn data fetch`, through the CLI."""

from __future__ import annotations

from typer.testing import CliRunner

from cli.main import app, main
from seqrnn.tasks import TASKS
from seqrnn.tasks.downloads import DOWNLOADS
from tests.conftest import shakespeare

runner = CliRunner()


def test_tasks_one_line_each():
    result = runner.invoke(app, ["tasks"])
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(TASKS)
    assert all(len(line.split(maxsplit=1)[1]) > 20 for line in lines)


def test_fetch_checks_the_sha256_and_keeps_a_good_copy(tmp_path, capsys):
    origin = shakespeare().as_uri()  # a local mirror: tests never use the network
    assert (
        main(["data", "fetch", "tinyshakespeare", "--dir", str(tmp_path), "--origin", origin]) == 0
    )
    target = tmp_path / "tinyshakespeare.txt"
    assert capsys.readouterr().out.strip() == str(target)
    assert target.read_bytes() == shakespeare().read_bytes()
    # Fetching again finds the good copy and downloads nothing (the origin is now bogus).
    assert (
        main(
            [
                "data",
                "fetch",
                "tinyshakespeare",
                "--dir",
                str(tmp_path),
                "--origin",
                "file:///nonexistent",
            ]
        )
        == 0
    )


def test_fetch_refuses_a_wrong_checksum_and_leaves_nothing(tmp_path, capsys):
    wrong = tmp_path / "other.txt"
    wrong.write_text("not shakespeare", encoding="utf-8")
    dest = tmp_path / "data"
    code = main(
        ["data", "fetch", "tinyshakespeare", "--dir", str(dest), "--origin", wrong.as_uri()]
    )
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()  # Keras' download progress, then the error
    errors = [line for line in err if line.startswith("seqrnn: error:")]
    assert errors == [err[-1]] and "could not fetch tinyshakespeare" in err[-1]
    assert "Incomplete or corrupted" in err[-1] or "sha256" in err[-1]
    assert not (dest / "tinyshakespeare.txt").exists()


def test_fetch_never_overwrites_a_different_file(tmp_path, capsys):
    mine = tmp_path / "tinyshakespeare.txt"
    mine.write_text("my own notes", encoding="utf-8")
    assert main(["data", "fetch", "tinyshakespeare", "--dir", str(tmp_path)]) == 1
    assert "exists and is not tinyshakespeare" in capsys.readouterr().err
    assert mine.read_text(encoding="utf-8") == "my own notes"


def test_fetch_unknown_corpus(capsys):
    assert main(["data", "fetch", "wikipedia"]) == 2
    assert f"choose one of {', '.join(DOWNLOADS)}" in capsys.readouterr().err
