"""The `seqrnn` command line: one module per command, joined in `cli.main`."""
