"""Names: sampler throughput (the notebook's `sample()` loop vs the service's batched sampler, same model) and the
cost of constraints; trainer speed (the notebook's `model()` vs our trainer loop, same iterations, same losses).

    .venv/bin/python -m bench.names_speed
"""

from __future__ import annotations

import contextlib
import io
import os
import time

import numpy as np

from bench.common import DATA, REPO, print_table

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


def trainer_rows(iterations: int = 22_001) -> list[dict]:
    path = os.path.join(DATA, "dinos.txt")
    if not os.path.isfile(path):
        return [{"figure": "trainer", "value": f"skipped: {path} absent"}]
    from model_core import notebook
    from model_core.train_names import NamesConfig, train_sgd
    from model_core.vocab import Vocab

    data = open(path).read().lower().split("\n")
    chars = "\nabcdefghijklmnopqrstuvwxyz"
    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        notebook.model(data, dict(enumerate(chars)), {c: i for i, c in enumerate(chars)}, iterations)
    t_nb = time.perf_counter() - t
    t = time.perf_counter()
    train_sgd([x.strip() for x in data], Vocab(chars), NamesConfig(), iterations)
    t_ours = time.perf_counter() - t
    return [{"figure": f"trainer, {iterations:,} iterations (s)", "value": f"{t_ours:.1f}",
             "baseline": f"notebook model() {t_nb:.1f}", "ratio": f"{t_nb / t_ours:.1f}x", "target": ">= 5x"}]


def run() -> list[dict]:
    return sampler_rows() + trainer_rows()


if __name__ == "__main__":
    print_table(run())
