"""Poem generation speed: the notebook's `model.predict`-per-character loop vs our engine's window and stateful
modes, 400 characters each, in one process; plus resident memory of a serving worker and stateful-mode quality.

    .venv/bin/python -m bench.poem_speed
"""

from __future__ import annotations

import os

import numpy as np

from bench.common import DATA, REPO, median_time, percentiles, print_table

N_CHARS = 400
PROMPT = "forsooth this maketh no sense"


def predict_loop(model, vocab, prompt: str, n: int, rng) -> str:
    """The notebook's generate_output: re-run the whole model on the last 40 characters for every character."""
    text = prompt
    for _ in range(n):
        x = np.zeros((1, 40, vocab.size), np.float32)
        window = text[-40:]
        for t, c in enumerate(window):
            x[0, 40 - len(window) + t, vocab.char_to_ix[c]] = 1.0
        p = model.predict(x, verbose=0)[0].astype(np.float64)
        text += vocab.chars[rng.choice(vocab.size, p=p / p.sum())]
    return text[len(prompt):]


def worker_memory() -> dict:
    """Current and peak RSS of a real serving worker (`python -m app`, one worker) after a /names and a /poem request."""
    from bench.http_speed import serve

    proc, base = serve("app.main:app")  # the launcher of `make run`, on a free port
    try:
        import httpx

        httpx.get(base + "/names", params={"count": 10, "seed": 1}, timeout=60).raise_for_status()
        httpx.get(base + "/poem", params={"length": 400, "seed": 1}, timeout=60).raise_for_status()
        status = dict(line.split(":", 1) for line in open(f"/proc/{proc.pid}/status"))
        return {"rss_mib": int(status["VmRSS"].split()[0]) // 1024, "peak_mib": int(status["VmHWM"].split()[0]) // 1024}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def stateful_quality(engine, text_path: str) -> tuple[float, float] | None:
    """Held-out NLL on the fixed Sonnets tail: window mode (the definition) vs a state carried along the tail."""
    if not os.path.isfile(text_path):
        return None
    from model_core import sonnets
    from model_core.lstm import SlidingWindows

    _, tail = sonnets.split_text(sonnets.load_text(text_path))
    ids = engine.vocab.encode(tail)
    win = SlidingWindows(engine.lstm, ids[:40])
    state = engine.lstm.zero_state()
    for ix in ids[:40]:
        logp_state = engine.lstm.step_log_probs(int(ix), state)
    nll_w = nll_s = 0.0
    for i in range(40, len(ids)):
        nll_w -= win.log_probs()[ids[i]]
        nll_s -= logp_state[ids[i]]
        win.advance(int(ids[i]))
        logp_state = engine.lstm.step_log_probs(int(ids[i]), state)
    n = len(ids) - 40
    return nll_w / n, nll_s / n


def run() -> list[dict]:
    import model_core  # noqa: F401
    import keras

    from model_core import poem_artifact

    engine, meta = poem_artifact.load(os.path.join(REPO, "artifacts"), "sonnets")
    engine.warm_up()
    model = keras.saving.load_model(os.path.join(REPO, "artifacts", "sonnets.keras"), safe_mode=True)

    def ours(mode):
        return lambda: "".join(engine.generate(PROMPT, N_CHARS, np.random.default_rng(1), 1.0, mode))

    t_predict = median_time(lambda: predict_loop(model, engine.vocab, PROMPT, N_CHARS, np.random.default_rng(1)), repeats=3)
    t_window = median_time(ours("window"), repeats=5)
    stateful_runs = []
    for _ in range(30):
        stateful_runs.append(median_time(ours("stateful"), repeats=1, warmup=0))
    p = percentiles(stateful_runs)
    mem = worker_memory()
    rows = [
        {"figure": "poem 400 chars, window mode (s)", "value": f"{t_window:.3f}", "baseline": f"predict loop {t_predict:.3f}",
         "ratio": f"{t_predict / t_window:.1f}x faster", "target": ">= 5x"},
        {"figure": "poem 400 chars, stateful p50 (ms)", "value": f"{p[50] * 1000:.1f} (p99 {p[99] * 1000:.1f})",
         "baseline": f"predict loop {t_predict * 1000:.0f}", "ratio": f"{t_predict / p[50]:.0f}x faster", "target": "<= 40 ms"},
        {"figure": "serving worker RSS after /names + /poem (MiB)", "value": f"{mem['rss_mib']} (peak {mem['peak_mib']})",
         "baseline": "Keras+JAX worker ~340", "ratio": f"{340 / mem['peak_mib']:.1f}x smaller", "target": "<= 200"},
    ]
    q = stateful_quality(engine, os.path.join(DATA, "shakespeare.txt"))
    if q:
        rows.append({"figure": "held-out NLL, stateful vs window (nats/char)", "value": f"{q[1]:.3f}",
                     "baseline": f"window {q[0]:.3f}", "ratio": f"{q[1] - q[0]:+.3f}", "target": "report"})
    return rows


if __name__ == "__main__":
    print_table(run())
