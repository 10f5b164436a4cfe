"""TensorFlow's BFC CPU allocator: chosen by the command line (a process seqrnn owns), never by
importing the library, and never over a value the user set."""

from __future__ import annotations

import os

import pytest

from cli.main import choose_process_settings, main
from tests.conftest import ROOT, run_python

VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"


def test_importing_seqrnn_leaves_the_environment_alone():
    code = (
        f"import os; os.environ.pop({VARIABLE!r}, None); before = dict(os.environ); "
        f"import seqrnn; print(dict(os.environ) == before, os.environ.get({VARIABLE!r}))"
    )
    result = run_python(code, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "None"]


@pytest.mark.parametrize(("chosen", "expected"), [(None, "true"), ("false", "false")])
def test_the_command_line_chooses_bfc_unless_the_user_did(chosen, expected, monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    if chosen is not None:
        monkeypatch.setenv(VARIABLE, chosen)
    assert main(["--version"]) == 0
    assert os.environ[VARIABLE] == expected


def test_process_settings_only_fill_what_is_missing():
    environ = {"PATH": "/bin"}
    choose_process_settings(environ)
    assert environ == {"PATH": "/bin", VARIABLE: "true"}
    environ = {VARIABLE: "false"}
    choose_process_settings(environ)
    assert environ == {VARIABLE: "false"}
