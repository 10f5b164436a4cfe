"""`torch.nn`'s rows timed in a process of their own, driven call by call from the bench.

`RemoteStep` starts `python -m seqrnn.bench.remote`, which builds the step (`peers.torch_step`)
and runs one call each time it reads a line; the bench times the calls as it times its own rows,
in the same alternating rounds, so the rows stay side by side. In a process of its own PyTorch
runs with its own allocator settings (`harness.allocator_environment`: JAX's process needs one
glibc arena, which slows PyTorch's GRU) and its memory and threads are not the measured
framework's; the issue's `torch.nn` figures were taken so too. The pipe's round trip is well
under a millisecond, against steps of tens of milliseconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict

from seqrnn.bench.harness import BenchConfig, PeakMemory, allocator_environment

#: What the measuring process answers once its step is built, and after each call.
READY, DONE = "ready", "done"


class RemoteStep:
    """A `torch.nn` training step (`peers.torch_step(cell, config, embedded)`) in a process of its
    own: `step()` runs one call there and waits for it; `memory` is that process's peak memory;
    `close()` ends it (as does this process's end: it stops when its stdin closes)."""

    def __init__(self, cell: str, config: BenchConfig, embedded: bool) -> None:
        arguments = [json.dumps(asdict(config)), cell, "1" if embedded else "0"]
        env = allocator_environment(dict(os.environ), config.allocator, "torch")
        env["KERAS_BACKEND"] = "torch"  # (seqrnn imports keras: its torch backend loads quickly)
        # Its stderr goes to a file: a pipe nobody reads could fill and block it. (close() closes.)
        self._said = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "seqrnn.bench.remote", *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._said,
            text=True,
            env=env,
        )
        self.memory = PeakMemory(self.process.pid)
        self._expect(READY)

    def _expect(self, word: str) -> None:
        line = self.process.stdout.readline().strip()
        if line != word:
            self.process.wait()
            self._said.seek(0)
            said = [s.strip() for s in self._said.read().splitlines() if s.strip()]
            self.close()
            raise RuntimeError(f"torch.nn's measuring process stopped: {(said or [line])[-1]}")

    def __call__(self) -> None:
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        self._expect(DONE)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._said.close()


def serve(config_json: str, cell: str, embedded: str) -> None:
    """The measuring process: builds the step, then one call per line read, until stdin ends."""
    from seqrnn.bench.harness import config_from_json
    from seqrnn.bench.peers import torch_step

    step = torch_step(cell, config_from_json(config_json), embedded == "1")
    print(READY, flush=True)
    for _ in sys.stdin:
        step()
        print(DONE, flush=True)


if __name__ == "__main__":
    serve(*sys.argv[1:4])
