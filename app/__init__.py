"""HTTP layer: FastAPI app, settings, routes. Model mathematics lives in `model_core`.

One BLAS/OpenMP/Numba thread per worker process unless the environment says otherwise, set here, before anything
imports NumPy, however the app is started (`python -m app`, `uvicorn app.main:app`, the tests). Why: requests already
run concurrently in worker threads, so multi-threaded BLAS inside each one only oversubscribes the cores; measured on
2 cores, four concurrent GRU requests ran 10-20 times slower with OpenBLAS's default of one thread per core.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# With several workers, metrics aggregate through files in PROMETHEUS_MULTIPROC_DIR; create it if it does not exist
# yet, instead of failing at the first metric with a bare FileNotFoundError.
if _metrics_dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(_metrics_dir, exist_ok=True)
