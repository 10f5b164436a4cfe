"""`python -m seqrnn.bench CONFIG_JSON OUT`: the measuring process of one backend."""

import sys

from seqrnn.bench.backends import measure_this_backend

measure_this_backend(*sys.argv[1:3])
