"""Importing seqrnn puts TensorFlow's CPU memory on the BFC allocator, unless the user chose."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, run_python

pytestmark = pytest.mark.tf_only

# TensorFlow keeps allocator statistics for CPU:0 only under the BFC allocator; the default one
# raises "Allocator stats not available".
PROBE = """
import seqrnn, tensorflow as tf
tf.random.normal((512, 512))
try:
    tf.config.experimental.get_memory_info("CPU:0")
except ValueError:
    print("default")
else:
    print("bfc")
"""


@pytest.mark.parametrize("chosen, expected", [(None, "bfc"), ("false", "default")])
def test_importing_seqrnn_chooses_bfc_unless_the_environment_says(chosen, expected, monkeypatch):
    monkeypatch.delenv("TF_CPU_ALLOCATOR_USE_BFC", raising=False)
    if chosen is not None:
        monkeypatch.setenv("TF_CPU_ALLOCATOR_USE_BFC", chosen)
    result = run_python(PROBE, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == expected
