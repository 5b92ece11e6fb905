"""The course's graded values, reproduced exactly by model_core.notebook."""

from __future__ import annotations

import numpy as np
import pytest

from model_core import notebook as nb

CHARS = "\nabcdefghijklmnopqrstuvwxyz"
CHAR_TO_IX = {c: i for i, c in enumerate(CHARS)}
IX_TO_CHAR = dict(enumerate(CHARS))


def _gradients(seed: int) -> dict:
    np.random.seed(seed)
    dWax = np.random.randn(5, 3) * 10
    dWaa = np.random.randn(5, 5) * 10
    dWya = np.random.randn(2, 5) * 10
    db = np.random.randn(5, 1) * 10
    dby = np.random.randn(2, 1) * 10
    return {"dWax": dWax, "dWaa": dWaa, "dWya": dWya, "db": db, "dby": dby}


@pytest.mark.parametrize("max_value, expected", [
    (10, (10.0, -10.0, 0.2971381536101662, [10.0], [8.45833407])),
    (5, (5.0, -5.0, 0.2971381536101662, [5.0], [5.0])),
])
def test_clip_graded_values(max_value, expected):
    g = _gradients(3)
    before = {k: v.copy() for k, v in g.items()}
    out = nb.clip(g, max_value)
    assert out["dWaa"][1][2] == expected[0]
    assert out["dWax"][3][1] == expected[1]
    assert out["dWya"][1][2] == pytest.approx(expected[2], rel=1e-12)
    assert out["db"][4] == pytest.approx(expected[3])
    assert out["dby"][1] == pytest.approx(expected[4], rel=1e-8)
    for k in before:  # clip returns a copy; the input is untouched
        np.testing.assert_array_equal(g[k], before[k])


def _random_params(n_a: int) -> dict:
    Wax, Waa, Wya = np.random.randn(n_a, 27), np.random.randn(n_a, n_a), np.random.randn(27, n_a)
    b, by = np.random.randn(n_a, 1), np.random.randn(27, 1)
    return {"Wax": Wax, "Waa": Waa, "Wya": Wya, "b": b, "by": by}


def test_sample_graded_indices():
    np.random.seed(24)
    params = _random_params(100)
    indices = nb.sample(params, CHAR_TO_IX, 0)
    assert [int(i) for i in indices] == [23, 16, 26, 26, 24, 3, 21, 1, 7, 24, 15, 3, 25, 20, 6, 13, 10, 8, 20, 12, 2, 0]


def test_sample_stops_at_50_and_appends_newline():
    n_a = 10
    params = {"Wax": np.zeros((n_a, 27)), "Waa": np.zeros((n_a, n_a)), "Wya": np.zeros((27, n_a)),
              "b": np.zeros((n_a, 1)), "by": np.zeros((27, 1))}
    params["by"][5] = 50.0  # always 'e', never "\n"
    indices = nb.sample(params, CHAR_TO_IX, 0)
    assert len(indices) == 51 and indices[-1] == 0 and set(indices[:-1]) == {5}


def test_optimize_graded_values():
    np.random.seed(1)
    a_prev = np.random.randn(100, 1)
    params = _random_params(100)
    loss, g, a_last = nb.optimize([12, 3, 5, 11, 22, 3], [4, 14, 11, 22, 25, 26], a_prev, params, learning_rate=0.01)
    assert loss == pytest.approx(126.50397572165389, rel=1e-9)
    assert g["dWaa"][1][2] == pytest.approx(0.19470931534713587, rel=1e-9)
    assert np.argmax(g["dWax"]) == 93
    assert g["dWya"][1][2] == pytest.approx(-0.007773876032002162, rel=1e-9)
    assert g["db"][4] == pytest.approx([-0.06809825], rel=1e-6)
    assert g["dby"][1] == pytest.approx([0.01538192], rel=1e-6)
    assert a_last[4] == pytest.approx([-1.0])


def test_rnn_forward_none_is_zero_input():
    params = nb.initialize_parameters(5, 27, 27)
    loss_none, _ = nb.rnn_forward([None, 3], [3, 0], np.zeros((5, 1)), params)
    # The same as feeding an explicit zero vector: run the step by hand.
    a1, p1 = nb.rnn_step_forward(params, np.zeros((5, 1)), np.zeros((27, 1)))
    x2 = np.zeros((27, 1)); x2[3] = 1
    a2, p2 = nb.rnn_step_forward(params, a1, x2)
    assert loss_none == pytest.approx(-np.log(p1[3, 0]) - np.log(p2[0, 0]))


def test_initialize_parameters_seeded():
    p = nb.initialize_parameters(50, 27, 27)
    np.random.seed(1)
    np.testing.assert_array_equal(p["Wax"], np.random.randn(50, 27) * 0.01)
    assert not p["b"].any() and not p["by"].any() and p["Wya"].shape == (27, 50)


# The course's printed smoothed losses every 2,000 iterations (its published expected output), and its samples.
COURSE_LOSSES = {0: "23.087336", 2000: "27.884160", 4000: "25.901815", 6000: "24.608779", 8000: "24.070350",
                 10000: "23.844446", 12000: "23.291971"}
COURSE_SAMPLES = {
    0: "Nkzxwtdmfqoeyhsqwasjkjvu\nKneb\nKzxwtdmfqoeyhsqwasjkjvu\nNeb\nZxwtdmfqoeyhsqwasjkjvu\nEb\nXwtdmfqoeyhsqwasjkjvu\n",
    2000: "Liusskeomnolxeros\nHmdaairus\nHytroligoraurus\nLecalosapaus\nXusicikoraurus\nAbalpsamantisaurus\nTpraneronxeros\n",
    12000: "Onyxosaurus\nKica\nLustrepiosaurus\nOlaagrraiansaurus\nYuspangosaurus\nEealosaurus\nTrognesaurus\n",
}


def test_model_prints_the_graded_losses_and_samples(dinos_path, capsys):
    """The course's trajectory to the printed digit through iteration 12,000.

    Not 22,000, the graded cell's length: past ~14,000 iterations the SGD trajectory depends on the last bits of
    the BLAS products, so it differs between OpenBLAS kernels (measured here at 22,000: 22.882589 'Trodoeosaurus'
    with this machine's SkylakeX kernel, 22.790459 'Trodonosaurus' with OPENBLAS_CORETYPE=Prescott, 22.779373
    'Trododon' with Haswell) and between course users' own machines (published runs of the unmodified notebook
    print 22.759659 'Trocephods' and fail its assert); the course's expected 22.728886 is one such machine's.
    """
    data = open(dinos_path).read().split("\n")  # as the course writes it: not lower-cased by the caller
    params, last = nb.model(data, IX_TO_CHAR, CHAR_TO_IX, 12001)
    out = capsys.readouterr().out
    for iteration, loss in COURSE_LOSSES.items():
        assert f"Iteration: {iteration}, Loss: {loss}\n" in out
    for iteration, names in COURSE_SAMPLES.items():
        assert f"Iteration: {iteration}, Loss: {COURSE_LOSSES[iteration]}\n\n{names}" in out
    assert last == "Trognesaurus\n"
    assert set(params) == {"Wax", "Waa", "Wya", "b", "by"}
