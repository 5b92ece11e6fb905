"""Train the dinosaur-names RNN (the notebook recipe by default) and write `artifacts/<name>.{npz,json,png}`.

    python -m model_core.train_names --data ../shared/data/dinos.txt

Recipe (the course's): n_a=50, one name per SGD step with the hidden state carried into the next name, lr 0.01,
gradients clipped element-wise to [-5, 5], 35,000 steps, names shuffled once. The recipe is first trained on the
fixed 90% split to measure the held-out NLL (shared/data/README.md), then (by default) retrained on every name for
the served model; the JSON records both.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from model_core import names_artifact, names_data, rnn
from model_core.artifacts import sha256_file, utc_now
from model_core.plots import save_curves
from model_core.names_model import NamesModel, capitalise
from model_core.vocab import Vocab


@dataclass
class NamesConfig:
    data: str = "../shared/data/dinos.txt"  # one name per line
    out_dir: str = "artifacts"  # where <name>.npz/.json/.png go
    name: str = "dinos"  # artifact base name (the model id)
    iterations: int = 35_000  # SGD steps, one name each (the course's 35,000)
    epochs: float = 0.0  # if > 0, overrides iterations: epochs x number of training names
    hidden_size: int = 50  # n_a, the course's 50
    learning_rate: float = 0.01  # the course's SGD step size
    clip: float = 5.0  # element-wise gradient clip, the course's 5
    seed: int = 0  # shuffle seed (the course shuffles with seed 0)
    init_seed: int = 1  # weight-initialisation seed (the course's initialize_parameters uses 1)
    held_out_fraction: float = 0.1  # the README's fixed split; 0 skips the evaluation run
    train_on_all: bool = True  # after evaluating, retrain on every name for the served model
    sample_every: int = 2000  # print a smoothed loss and samples every N steps, like the notebook
    samples: int = 7  # names printed at each report
    progress: bool = True  # show a progress bar


def parse_args(argv: list[str] | None = None) -> NamesConfig:
    d = NamesConfig()
    p = argparse.ArgumentParser(prog="python -m model_core.train_names", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=d.data, help="path to dinos.txt (default: %(default)s)")
    p.add_argument("--out-dir", default=d.out_dir, help="artifact directory (default: %(default)s)")
    p.add_argument("--name", default=d.name, help="artifact base name / model id (default: %(default)s)")
    p.add_argument("--iterations", type=int, default=d.iterations, help="SGD steps, one name each (default: %(default)s)")
    p.add_argument("--epochs", type=float, default=d.epochs, help="if > 0, passes over the names instead of --iterations")
    p.add_argument("--hidden-size", type=int, default=d.hidden_size, help="hidden units n_a (default: %(default)s)")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate, help="SGD learning rate (default: %(default)s)")
    p.add_argument("--clip", type=float, default=d.clip, help="element-wise gradient clip (default: %(default)s)")
    p.add_argument("--seed", type=int, default=d.seed, help="shuffle seed (default: %(default)s)")
    p.add_argument("--init-seed", type=int, default=d.init_seed, help="weight initialisation seed (default: %(default)s)")
    p.add_argument("--held-out-fraction", type=float, default=d.held_out_fraction,
                   help="fraction held out for evaluation; only 0.1 gives the README's comparable split (default: %(default)s)")
    p.add_argument("--no-train-on-all", dest="train_on_all", action="store_false",
                   help="save the model trained on the split instead of retraining on every name")
    p.add_argument("--sample-every", type=int, default=d.sample_every, help="report interval in steps (default: %(default)s)")
    p.add_argument("--samples", type=int, default=d.samples, help="names sampled at each report (default: %(default)s)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    cfg = NamesConfig(**vars(p.parse_args(argv)))
    if cfg.iterations < 1 or cfg.hidden_size < 1 or not 0 <= cfg.held_out_fraction < 1:
        p.error("--iterations and --hidden-size must be >= 1 and --held-out-fraction in [0, 1)")
    return cfg


def train_sgd(examples: list[str], vocab: Vocab, cfg: NamesConfig, iterations: int,
              report: Callable[[int, float, rnn.RNNParams], None] | None = None) -> tuple[rnn.RNNParams, list[float]]:
    """The notebook's training loop, fast: returns the parameters and the smoothed loss at every step.

    The loop is `fast_sgd.sgd_loop` (compiled with Numba; same mathematics as `notebook.optimize`).

    With the course's seeds and example list this reproduces `notebook.model`'s losses (local RandomState objects
    draw the same numbers as the notebook's global seeding, without touching global state).
    """
    from model_core import fast_sgd  # the compiled loop

    init = np.random.RandomState(cfg.init_seed)
    v, n_a = vocab.size, cfg.hidden_size
    params = rnn.RNNParams(
        Wax=init.randn(n_a, v) * 0.01, Waa=init.randn(n_a, n_a) * 0.01, Wya=init.randn(v, n_a) * 0.01,
        b=np.zeros((n_a, 1)), by=np.zeros((v, 1)),
    )
    examples = list(examples)
    np.random.RandomState(cfg.seed).shuffle(examples)
    encoded = [rnn.encode_name(vocab.encode(name, "name")) for name in examples]
    if iterations <= 0:
        return params, []
    loop = fast_sgd.SGDRun(params, fast_sgd.pack(encoded), cfg.learning_rate, cfg.clip)  # compiled, in place
    if report is None:
        return params, loop.run(iterations).tolist()
    # The compiled loop runs between report points (j % sample_every == 0), where `report` sees the parameters of
    # exactly step j; it is still called for every other step with that step's smoothed loss (for the progress bar),
    # but with the parameters as of the end of the chunk.
    every = cfg.sample_every if cfg.sample_every and cfg.sample_every > 0 else iterations
    curve: list[float] = []
    j = 0
    while j < iterations:
        stop = min(iterations, -(-j // every) * every + 1)  # through the next report point
        losses = loop.run(stop).tolist()
        curve.extend(losses)
        for i, loss in enumerate(losses):
            report(j + i, loss, params)
        j = stop
    return params, curve


def run(cfg: NamesConfig) -> dict:
    names = names_data.load_names(cfg.data)
    vocab = Vocab.from_text("\n" + "\n".join(names))
    train, held_out = names_data.split_names(names, cfg.held_out_fraction)

    def iterations_for(n: int) -> int:
        return int(round(cfg.epochs * n)) if cfg.epochs > 0 else cfg.iterations

    def reporter(total: int, evaluate: list[str]):
        bar = _progress(total, cfg.progress)
        held = [vocab.encode(n, "name") for n in evaluate]

        def report(j: int, loss: float, params: rnn.RNNParams) -> None:
            bar.update(1)
            if cfg.sample_every and j % cfg.sample_every == 0:
                model = NamesModel(params, vocab)
                got = model.sample(cfg.samples, np.random.default_rng(j), max_length=50, unique=False).names
                extra = f", held-out NLL {rnn.mean_nll(params, held):.4f}" if held else ""
                bar.write(f"Iteration: {j}, Loss: {loss:f}{extra}\n  " + ", ".join(capitalise(s.name) for s in got))
        return report, bar

    summary: dict = {}
    if held_out:
        print(f"evaluation run: {len(train)} training names, {len(held_out)} held out", flush=True)
        started = time.time()
        report, bar = reporter(iterations_for(len(train)), held_out)
        params, curve = train_sgd(train, vocab, cfg, iterations_for(len(train)), report)
        bar.close()
        summary = {
            "held_out_nll": rnn.mean_nll(params, [vocab.encode(n) for n in held_out]),
            "train_nll": rnn.mean_nll(params, [vocab.encode(n) for n in train]),
            "train_names": len(train), "held_out_names": len(held_out),
            "wall_time_s": round(time.time() - started, 2),
            "split": "shared/data/README.md: sorted distinct lower-case names, default_rng(0) permutation, first 90% train",
        }
        print(f"held-out NLL {summary['held_out_nll']:.4f} nats/char (train {summary['train_nll']:.4f})", flush=True)

    final_names = names if (cfg.train_on_all or not held_out) else train
    started = time.time()
    report, bar = reporter(iterations_for(len(final_names)), [])
    params, curve = train_sgd(final_names, vocab, cfg, iterations_for(len(final_names)), report)
    bar.close()
    wall = time.time() - started
    meta = {
        "recipe": "notebook: per-name SGD, tanh RNN, clip, hidden state carried across names",
        "hyperparameters": {k: v for k, v in asdict(cfg).items() if k not in ("data", "out_dir", "progress")},
        "iterations": len(curve),
        "trained_on_names": len(final_names),
        "final_smoothed_loss": float(curve[-1]),
        "train_nll": rnn.mean_nll(params, [vocab.encode(n) for n in final_names]),
        "held_out_nll": summary.get("held_out_nll"),
        "evaluation": summary or None,
        "wall_time_s": round(wall, 2),
        "dataset_sha256": sha256_file(cfg.data),
        "created_at": utc_now(),
    }
    json_path = names_artifact.save(cfg.out_dir, cfg.name, params, vocab, names, meta)
    plot_curve(Path(cfg.out_dir) / f"{cfg.name}.png", curve, meta["held_out_nll"])
    print(f"wrote {json_path} (trained in {wall:.1f}s)", flush=True)
    return meta


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, unit="step", mininterval=1.0, file=sys.stderr)


def plot_curve(path: Path, curve: list[float], held_out: float | None) -> None:
    title = f"held-out NLL {held_out:.3f} nats/char" if held_out is not None else None
    save_curves(path, [(np.arange(len(curve)), curve, "smoothed training loss (per name)", {})], xlabel="iteration",
                ylabel="loss (nats per name)", title=title)


def main(argv: list[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
