"""Poem trainer smoke test on a tiny configuration: a loadable artifact whose engine matches Keras."""

from __future__ import annotations

import json

import numpy as np

from model_core import poem_artifact
from model_core.train_poem import main


def test_tiny_training_run(tmp_path, shakespeare_path, capsys):
    rc = main(["--data", str(shakespeare_path), "--out-dir", str(tmp_path), "--name", "tiny", "--epochs", "1",
               "--max-windows", "512", "--max-held-out-windows", "256", "--units", "16", "--batch-size", "64", "--patience", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "epoch 1:" in out and "sample:" in out and "held-out NLL" in out
    meta = json.loads((tmp_path / "tiny.json").read_text())
    assert meta["kind"] == "poem-lstm" and meta["tx"] == 40 and len(meta["vocab"]) == 38 and meta["epochs_run"] == 1 and meta["held_out_windows"] == 256
    assert 2.0 < meta["held_out_nll"] < 3.7 and len(meta["held_out_loss_curve"]) == meta["epochs_run"]
    assert meta["weights_sha256"] and meta["dataset_sha256"] and (tmp_path / "tiny.png").stat().st_size > 1000
    engine, _ = poem_artifact.load(tmp_path, "tiny")
    text = "".join(engine.generate("shall i", 20, np.random.default_rng(0)))
    assert len(text) == 20 and set(text) <= set(meta["vocab"])
