"""Training smoke test on a tiny config: the CLI writes a loadable artifact with its recipe and a loss curve."""

from __future__ import annotations

import json

import numpy as np

from model_core import names_artifact
from model_core.train_names import main
from tests.conftest import FIXTURES


def test_cli_tiny_run(tmp_path, capsys):
    rc = main(["--data", str(FIXTURES / "tiny_names.txt"), "--out-dir", str(tmp_path), "--name", "tiny",
               "--iterations", "300", "--hidden-size", "8", "--held-out-fraction", "0.25", "--sample-every", "100",
               "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Iteration: 0, Loss:" in out and "Iteration: 200, Loss:" in out and "held-out NLL" in out
    meta = json.loads((tmp_path / "tiny.json").read_text())
    assert meta["iterations"] == 300 and meta["trained_on_names"] == 8 and meta["evaluation"]["held_out_names"] == 2
    assert np.isfinite(meta["held_out_nll"]) and meta["final_smoothed_loss"] < meta["hyperparameters"]["iterations"]
    assert (tmp_path / "tiny.png").stat().st_size > 1000
    model, _ = names_artifact.load(tmp_path, "tiny")
    assert model.params.n_a == 8 and "diplodocus" in model.known


def test_training_reduces_loss(tmp_path):
    main(["--data", str(FIXTURES / "tiny_names.txt"), "--out-dir", str(tmp_path), "--name", "t", "--iterations",
          "3000", "--hidden-size", "16", "--held-out-fraction", "0", "--sample-every", "0", "--no-progress"])
    meta = json.loads((tmp_path / "t.json").read_text())
    assert meta["train_nll"] < 2.3  # uniform over 27 characters is 3.30, this file's unigram model 2.72
