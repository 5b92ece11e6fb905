"""Names: sampler throughput (the notebook's `sample()` loop vs the service's batched sampler, same model) and the
cost of constraints. (Trainer speed is bench/trainer_speed.py.)

    .venv/bin/python -m bench.names_speed
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from bench.common import DATA, REPO, print_table

DATA_FILE = os.path.join(DATA, "dinos.txt")

N_NAMES = 10_000


def sampler_rows() -> list[dict]:
    from model_core import names_artifact, notebook

    model, _ = names_artifact.load(os.path.join(REPO, "artifacts"), "dinos")
    params = {k: v.copy() for k, v in model.params.arrays().items()}
    c2i = model.vocab.char_to_ix
    n_nb = 1000  # the notebook loop is slow: time 1,000 names per round

    def nb_rate() -> float:
        t = time.perf_counter()
        for seed in range(n_nb):
            notebook.sample(params, c2i, seed)
        return n_nb / (time.perf_counter() - t)

    def rate(**kw) -> tuple[float, float]:
        """(accepted names/s, candidates drawn/s) for one 10,000-name request."""
        t = time.perf_counter()
        res = model.sample(N_NAMES, np.random.default_rng(0), unique=False, max_attempts=10 * N_NAMES, **kw)
        dt = time.perf_counter() - t
        return len(res.names) / dt, res.attempts / dt

    rate(max_length=50)  # warm-up (compiles or loads the kernel)
    # Rounds interleave baseline and candidate so a burst of load on the shared machine hits both; medians of 3.
    nb, free, constrained = [], [], []
    for _ in range(3):
        nb.append(nb_rate())
        free.append(rate(max_length=50))
        constrained.append(rate(prefix="a", min_length=6, max_length=12))
    nb_rate_ = float(np.median(nb))
    free_names, free_cands = np.median(free, axis=0)
    con_names, con_cands = np.median(constrained, axis=0)
    return [
        {"figure": "names/s, 10,000 names, median of 3", "value": f"{free_names:,.0f}",
         "baseline": f"notebook sample() {nb_rate_:,.0f}", "ratio": f"{free_names / nb_rate_:.0f}x", "target": ">= 50x"},
        {"figure": "names/s with prefix+lengths", "value": f"{con_names:,.0f}",
         "baseline": f"unconstrained {free_names:,.0f}", "ratio": f"{con_names / free_names:.2f}x", "target": "close to 1x"},
        {"figure": "candidates/s with prefix+lengths", "value": f"{con_cands:,.0f}",
         "baseline": f"unconstrained {free_cands:,.0f}", "ratio": f"{con_cands / free_cands:.2f}x",
         "target": "info: cost per candidate"},
    ]

def default_model_rows(rnn_rate: float) -> list[dict]:
    """The default names model: its recorded held-out NLL (the trainer's split run), and, measured now, what 1,000 of
    its names look like and how fast it samples 10,000."""
    from model_core import gru_model, names_data

    model, meta = gru_model.load(os.path.join(REPO, "artifacts"), "dinos-gru")
    with open(os.path.join(REPO, "artifacts", "dinos.json")) as f:
        notebook_nll = json.load(f)["held_out_nll"]
    res = model.sample(1000, np.random.default_rng(0), unique=False, max_length=50, max_attempts=2000)
    names = [s.name for s in res.names]
    real = names_data.load_names(DATA_FILE) if os.path.exists(DATA_FILE) else sorted(model.known)
    new = sum(n not in model.known for n in names) / len(names)
    rates = []
    for seed in range(3):
        t = time.perf_counter()
        out = model.sample(N_NAMES, np.random.default_rng(seed), unique=False, max_length=50, max_attempts=10 * N_NAMES)
        rates.append(len(out.names) / (time.perf_counter() - t))
    rate = float(np.median(rates))
    nll = meta["held_out_nll"]
    return [
        {"figure": f"default names model {meta['id']}: held-out NLL (nats/char)", "value": f"{nll:.3f}",
         "baseline": f"makemore best (GRU-128) 1.589; notebook recipe {notebook_nll:.3f}",
         "ratio": f"{nll - 1.589:+.3f}", "target": "<= 1.55"},
        {"figure": f"{meta['id']}: 1,000 names new / unique / mean length", "value":
         f"{new:.1%} / {len(set(names)) / len(names):.1%} / {np.mean([len(n) for n in names]):.1f}",
         "baseline": f"real names mean length {np.mean([len(n) for n in real]):.1f}", "ratio": "", "target": "report"},
        {"figure": f"{meta['id']}: names/s, 10,000 names, median of 3", "value": f"{rate:,.0f}",
         "baseline": f"dinos RNN {rnn_rate:,.0f}", "ratio": f"{rate / rnn_rate:.2f}x", "target": "report"},
    ]


def run() -> list[dict]:
    rows = sampler_rows()
    rnn_rate = float(rows[0]["value"].replace(",", ""))
    return rows + default_model_rows(rnn_rate)


if __name__ == "__main__":
    print_table(run())
