"""Trainer speed: the notebook's `model()` vs our trainer (`train_sgd`, the compiled loop of `model_core.fast_sgd`),
same 22,001 iterations on the same shuffled names in the same process, and how closely the smoothed losses agree.

    .venv/bin/python -m bench.trainer_speed [--repeats 3] [--iterations 22001] [--with-numpy-trainer]

Timings are medians over the repeats (each repeat times both, interleaved; the ratio is the median of the per-repeat
ratios). The notebook's time includes its stdout (suppressed) and the 7 samples it draws every 2,000 iterations;
ours is `train_sgd` without a report callback (shuffle, encode, compiled loop). Numba compilation (or loading the
on-disk cache) happens in an untimed warm-up. The loss agreement is measured at the iterations the notebook
reports (0, 2000, ...): through 12,000 it is the issue's acceptance figure; beyond ~14,000 steps the notebook's
trajectory amplifies last-bit rounding differences (it disagrees with itself run on a different OpenBLAS kernel
by ~5e-3 there), so the full-range figure is informational.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import time

import numpy as np

from bench.common import DATA, print_table

ITERATIONS = 22_001
CHARS = "\nabcdefghijklmnopqrstuvwxyz"
REPORT_EVERY = 2000  # the notebook's reporting interval
AGREEMENT_THROUGH = 12_000  # the range for loss agreement to 1e-6


def _notebook(data: list[str], iterations: int) -> tuple[float, np.ndarray]:
    """Seconds for notebook.model(), and its smoothed loss at every iteration (recorded by wrapping `smooth`)."""
    from model_core import notebook

    recorded: list[float] = []
    original = notebook.smooth

    def smooth(loss, cur):
        loss = original(loss, cur)
        recorded.append(loss)
        return loss

    notebook.smooth = smooth
    try:
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            notebook.model(data, dict(enumerate(CHARS)), {c: i for i, c in enumerate(CHARS)}, iterations)
        elapsed = time.perf_counter() - t
    finally:
        notebook.smooth = original
    return elapsed, np.array(recorded)


def _fast(examples: list[str], iterations: int) -> tuple[float, np.ndarray]:
    from model_core.train_names import NamesConfig, train_sgd
    from model_core.vocab import Vocab

    t = time.perf_counter()
    _, curve = train_sgd(examples, Vocab(CHARS), NamesConfig(), iterations)
    return time.perf_counter() - t, np.array(curve)


def _numpy_trainer(examples: list[str], iterations: int) -> float:
    """The previous trainer loop (pure NumPy, `rnn.sgd_step` per name), for reference."""
    from model_core import rnn
    from model_core.vocab import Vocab

    t = time.perf_counter()
    init = np.random.RandomState(1)
    v, n_a = len(CHARS), 50
    p = rnn.RNNParams(Wax=init.randn(n_a, v) * 0.01, Waa=init.randn(n_a, n_a) * 0.01, Wya=init.randn(v, n_a) * 0.01,
                      b=np.zeros((n_a, 1)), by=np.zeros((v, 1)))
    examples = list(examples)
    np.random.RandomState(0).shuffle(examples)
    encoded = [rnn.encode_name(Vocab(CHARS).encode(n, "name")) for n in examples]
    loss, a_prev = -np.log(1.0 / v) * 7, np.zeros(n_a)
    for j in range(iterations):
        xs, ys = encoded[j % len(encoded)]
        cur, a_prev = rnn.sgd_step(p, xs, ys, a_prev, 0.01, 5.0)
        loss = loss * 0.999 + cur * 0.001
    return time.perf_counter() - t


def run(iterations: int = ITERATIONS, repeats: int = 3, with_numpy_trainer: bool = False) -> list[dict]:
    path = os.path.join(DATA, "dinos.txt")
    if not os.path.isfile(path):
        return [{"figure": "trainer", "value": f"skipped: {path} absent"}]
    data = open(path).read().lower().split("\n")  # as the course reads it; model() strips and lower-cases
    examples = [x.strip() for x in data]
    _fast(examples, 2)  # warm-up: compile the loop or load it from Numba's cache (not timed)

    t_nb, t_fast, ratios = [], [], []
    nb_curve = fast_curve = None
    for _ in range(repeats):
        tn, nb_curve = _notebook(data, iterations)
        tf, fast_curve = _fast(examples, iterations)
        t_nb.append(tn)
        t_fast.append(tf)
        ratios.append(tn / tf)
    med_nb, med_fast, med_ratio = statistics.median(t_nb), statistics.median(t_fast), statistics.median(ratios)

    rel = np.abs(fast_curve - nb_curve) / np.abs(nb_curve)
    reported = np.arange(0, iterations, REPORT_EVERY)
    early = reported[reported <= AGREEMENT_THROUGH]
    beyond = np.flatnonzero(rel > 1e-6)
    first_beyond = f"{int(beyond[0]):,}" if beyond.size else f"none in {iterations:,}"
    each = ", ".join(f"{r:.1f}" for r in ratios)
    rows = [
        {"figure": f"trainer, {iterations:,} iterations (s), median of {repeats}", "value": f"{med_fast:.2f}",
         "baseline": f"notebook model() {med_nb:.1f}", "ratio": f"{med_ratio:.1f}x ({each})",
         "target": ">= 5x"},
        {"figure": "trainer, time per iteration", "value": f"{med_fast / iterations * 1e6:.0f} us",
         "baseline": f"notebook model() {med_nb / iterations * 1e6:.0f} us", "ratio": f"{med_nb / med_fast:.1f}x",
         "target": ""},
        {"figure": f"smoothed-loss max rel. diff, reported iters 0..{int(early[-1]):,}",
         "value": f"{rel[early].max():.1e}", "baseline": "notebook model()", "ratio": "", "target": "<= 1e-6"},
        {"figure": "first iteration with loss rel. diff > 1e-6", "value": first_beyond, "baseline": "notebook model()",
         "ratio": "", "target": f"> {AGREEMENT_THROUGH:,}"},
    ]
    if reported[-1] > AGREEMENT_THROUGH:
        rows.insert(3, {"figure": f"smoothed-loss max rel. diff, reported iters 0..{int(reported[-1]):,}",
                        "value": f"{rel[reported].max():.1e}", "baseline": "notebook model()", "ratio": "",
                        "target": "info: rounding-sensitive past ~14,000"})
    if with_numpy_trainer:
        t_np = _numpy_trainer(examples, iterations)
        rows.append({"figure": f"previous NumPy trainer, {iterations:,} iterations (s)", "value": f"{t_np:.1f}",
                     "baseline": f"notebook model() {med_nb:.1f}", "ratio": f"{med_nb / t_np:.1f}x", "target": ""})
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.trainer_speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=ITERATIONS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--with-numpy-trainer", action="store_true", help="also time the previous pure-NumPy loop (once)")
    args = p.parse_args(argv)
    print_table(run(args.iterations, args.repeats, args.with_numpy_trainer))


if __name__ == "__main__":
    main()
