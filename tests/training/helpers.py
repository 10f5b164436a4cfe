"""What the training tests share: tiny settings, a run's weights and metrics, a seqrnn process."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

from seqrnn.training import RunFolder, TrainConfig, Trainer
from tests.conftest import ROOT

TINY = ["--units", "8", "--embedding-dim", "4", "--batch-size", "8", "--log-every", "5"]
TINY += ["--no-export"]


def weights_of(run: Path) -> list[np.ndarray]:
    return keras.models.load_model(run / "model.keras").get_weights()


def metric_rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def seqrnn_process(*args: str, env: dict | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def train_in_process(out: Path, **settings) -> None:
    config = TrainConfig(**{"units": 8, "embedding_dim": 4, "batch_size": 8, **settings})
    run = RunFolder.open(out, resume=False, force=False)
    try:
        Trainer(config, run).train()
    finally:
        run.unlock()
