"""The ``sgdm`` command line: a thin Typer shell over the ``sgdm`` library.

BLAS threads are pinned to one per process unless the user set them: the training loop does
small matrix products per step, and ``sgdm compare --jobs N`` runs N processes, which would
otherwise oversubscribe the cores (measured: 8.8 s instead of 1.3 s for a 300-epoch run on two
shared cores). This must happen before NumPy is first imported.
"""

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
