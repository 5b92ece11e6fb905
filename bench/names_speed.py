"""Names: sampler throughput (the notebook's `sample()` loop vs the service's batched sampler, same model) and the
cost of constraints. (Trainer speed is bench/trainer_speed.py.)

    .venv/bin/python -m bench.names_speed
"""

from __future__ import annotations

import os
import time

import numpy as np

from bench.common import REPO, print_table

N_NAMES = 10_000


def sampler_rows() -> list[dict]:
    from model_core import names_artifact, notebook

    model, _ = names_artifact.load(os.path.join(REPO, "artifacts"), "dinos")
    params = {k: v.copy() for k, v in model.params.arrays().items()}
    c2i = model.vocab.char_to_ix
    n_nb = 1000  # the notebook loop is slow: time 1,000 names and scale
    t = time.perf_counter()
    for seed in range(n_nb):
        notebook.sample(params, c2i, seed)
    nb_rate = n_nb / (time.perf_counter() - t)

    def rate(**kw) -> float:
        t = time.perf_counter()
        res = model.sample(N_NAMES, np.random.default_rng(0), unique=False, max_attempts=10 * N_NAMES, **kw)
        return len(res.names) / (time.perf_counter() - t)

    rate(max_length=50)  # warm-up
    free = rate(max_length=50)
    constrained = rate(prefix="a", min_length=6, max_length=12)
    return [
        {"figure": "names/s, 10,000 names", "value": f"{free:,.0f}", "baseline": f"notebook sample() {nb_rate:,.0f}",
         "ratio": f"{free / nb_rate:.0f}x", "target": ">= 50x"},
        {"figure": "names/s with prefix+lengths", "value": f"{constrained:,.0f}", "baseline": f"unconstrained {free:,.0f}",
         "ratio": f"{constrained / free:.2f}x", "target": "close to 1x"},
    ]


def run() -> list[dict]:
    return sampler_rows()


if __name__ == "__main__":
    print_table(run())
