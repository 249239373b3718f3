"""The lessons in examples/: each script's main() is run in-process (small settings where the full run is
slow) and the lecture's result it teaches is checked; one lesson also runs on every backend and one as the
command its docstring shows.

The lesson results are checked on the NumPy reference backend (or MARK1_BACKEND when set): they are
properties of the math, and lessons run thousands of ops on arrays of a few dozen numbers, where a threaded
backend's per-call overhead would dominate the test time. The `*_on_every_backend` smoke tests run two
lessons, at tiny sizes, on every usable backend. The backend in force before a test is restored after it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mark1 as m1

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.glob("[0-9][0-9]_*.py"))


def load(name: str):
    """Import examples/<name>.py (a file name starting with a digit cannot be imported the usual way)."""
    spec = importlib.util.spec_from_file_location(f"lesson_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_lesson(tmp_path):
    """run_lesson(name, *args) -> main's dict, on `backend` (default above), PNGs into tmp_path."""
    default = os.environ.get("MARK1_BACKEND") or "numpy"

    def run(name: str, *args: str, backend: str | None = None) -> dict:
        chosen = backend or default
        with m1.backend(chosen):  # restores the current backend even though main() calls m1.use
            result = load(name).main(["--backend", chosen, "--out", str(tmp_path), *args])
        for key in ("plot", "plots"):
            for path in np.atleast_1d(result.get(key, [])):
                assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
        return result

    return run


def test_every_lesson_is_short_and_shows_its_command():
    assert len(SCRIPTS) == 9, [s.name for s in SCRIPTS]
    for script in SCRIPTS:
        text = script.read_text(encoding="utf-8")
        assert f"python examples/{script.name}" in text.split('"""')[1], f"{script.name}: command not in docstring"
        assert len(text.splitlines()) <= 125, f"{script.name} has grown past a readable length"
        assert f"`python examples/{script.name}" in (EXAMPLES / "README.md").read_text(encoding="utf-8")


def test_readme_pictures_exist_and_stay_small():
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", (EXAMPLES / "README.md").read_text(encoding="utf-8"))
    assert pictures
    for picture in pictures:
        path = (EXAMPLES / picture).resolve()
        assert path.is_file(), picture
        assert path.stat().st_size < 200_000, f"{picture} is {path.stat().st_size} bytes; keep README images small"


def test_01_perceptron_learns_and_or_but_never_xor(run_lesson):
    result = run_lesson("01_perceptron", "--epochs", "20", "--seeds", "20")
    for gate in ("AND", "OR"):
        assert result["epochs_to_converge"][gate] is not None and result["epochs_to_converge"][gate] <= 10
        assert result["final_accuracy"][gate] == 1.0
    assert result["xor_best_accuracy"] <= 0.75  # no seed, at no epoch, gets all four XOR pairs right


def test_02_adaline_minimises_squared_error_while_perceptron_counts_mistakes(run_lesson):
    result = run_lesson("02_adaline")
    assert result["perceptron_mistakes"][-1] == 0  # separable data: the perceptron stops making mistakes
    costs = np.array(result["adaline_costs"])
    assert np.all(np.diff(costs) <= 1e-6), "Adaline's cost must go down every epoch"
    assert costs[-1] == pytest.approx(result["least_squares_cost"], rel=1e-3)
    assert result["adaline_mistakes"][-1] <= 3


def test_03_gradient_descent_reaches_the_least_squares_line(run_lesson):
    result = run_lesson("03_gradient_descent", "--steps", "600")
    for prefix in ("", "nn_"):
        assert result[f"{prefix}w"] == pytest.approx(1.5, abs=1e-3)
        assert result[f"{prefix}b"] == pytest.approx(11.5, abs=1e-3)
        assert result[f"{prefix}sse"] == pytest.approx(59.0, abs=1e-3)
    path = result["path"]
    costs = [((w * np.array([0, 2, 3, 6, 4]) + b - np.array([12, 16, 10, 20, 22])) ** 2).sum() for w, b in path]
    assert np.all(np.diff(costs) <= 1e-3), "full-batch descent with a small step never goes uphill"


def test_03_gradient_descent_on_every_backend(backend, run_lesson):
    """The smoke test per backend: the first steps match gradient descent done in float64 NumPy."""
    steps, lr = 20, 0.1
    result = run_lesson("03_gradient_descent", "--steps", str(steps), "--lr", str(lr), backend=backend.name)
    x, y = np.array([0, 2, 3, 6, 4.0]), np.array([12, 16, 10, 20, 22.0])
    w = b = 0.0
    for _ in range(steps):
        error = w * x + b - y
        w, b = w - lr * (error * x).mean(), b - lr * error.mean()
    assert (result["w"], result["b"]) == pytest.approx((w, b), rel=1e-4)
    assert (result["nn_w"], result["nn_b"]) == pytest.approx((w, b), rel=1e-4)


def test_04_logistic_regression_agrees_with_scikit_learn(run_lesson):
    result = run_lesson("04_logistic_regression")
    assert result["agreement"] >= 0.99
    assert result["costs"][0] == pytest.approx(np.log(2), rel=1e-5)  # h = 0.5 everywhere at w = b = 0
    np.testing.assert_allclose(result["w"], result["sklearn_w"], atol=0.02)


def test_05_backprop_chain_rule_by_hand_matches_backward(run_lesson):
    result = run_lesson("05_xor_backprop", "--hidden", "4", "8", "--seeds", "5")
    assert result["chain_rule_backward"] == pytest.approx(result["chain_rule_by_hand"], rel=1e-4, abs=1e-9)
    assert result["chain_rule_by_hand"] != 0
    assert result["success_rate"][4] >= 0.8 and result["success_rate"][8] >= 0.8


@pytest.mark.slow
def test_05_xor_success_rate_over_20_seeds(run_lesson):
    rates = run_lesson("05_xor_backprop")["success_rate"]
    assert set(rates) == {2, 4, 8}
    assert rates[4] >= 0.9 and rates[8] >= 0.9  # most seeds solve XOR once the hidden layer is wide enough
    assert rates[2] >= 0.5


def test_06_sigmoid_derivative_and_vanishing_gradient(run_lesson):
    result = run_lesson("06_vanishing_gradient")
    assert result["derivative_error"] < 1e-8
    sigmoid, relu = np.array(result["norms"]["sigmoid"]), np.array(result["norms"]["relu"])
    assert len(sigmoid) == len(relu) == 10
    assert np.all(np.diff(sigmoid) > 0), "each layer nearer the input gets a smaller gradient"
    assert sigmoid[0] / sigmoid[-1] < 1e-4  # at most 1/4 per layer from σ'
    assert 0.1 < relu[0] / relu[-1] < 10


def test_06_sigmoid_derivative_on_every_backend(backend, run_lesson):
    """σ' in float64 against finite differences, and a tiny deep network, on each backend."""
    result = run_lesson("06_vanishing_gradient", "--depth", "4", "--width", "5", "--batch", "3", backend=backend.name)
    assert result["derivative_error"] < 1e-8
    assert result["norms"]["sigmoid"][0] < result["norms"]["sigmoid"][-1]


def test_07_digits_mlp_reaches_97_percent(run_lesson):
    result = run_lesson("07_digits")
    assert result["test_accuracy"] >= 0.97
    confusion = result["confusion"]
    assert confusion.sum() == 450 and np.trace(confusion) / confusion.sum() == pytest.approx(result["test_accuracy"])


def test_08_cnn_beats_the_mlp_on_the_digits(run_lesson):
    assert run_lesson("08_cnn_digits")["test_accuracy"] >= 0.985


def test_08_cnn_trains_on_mnist_idx_files(run_lesson, tmp_path):
    """--mnist DIR reads the four IDX files (here tiny random ones the test writes, one gzip-compressed)."""
    from test_data_idx import write_idx

    rng = np.random.default_rng(0)
    for part, count in (("train", 24), ("t10k", 8)):
        write_idx(tmp_path / f"{part}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)).astype(np.uint8), 8)
        write_idx(tmp_path / f"{part}-labels-idx1-ubyte.gz", rng.integers(0, 10, count).astype(np.uint8), 8, True)
    result = run_lesson("08_cnn_digits", "--mnist", str(tmp_path), "--epochs", "1")
    assert 0 <= result["test_accuracy"] <= 1 and len(result["loss"]) == 1


def test_a_lesson_runs_as_the_command_its_docstring_shows(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "examples/06_vanishing_gradient.py", "--out", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "σ'(0) = 0.250000" in done.stdout
    assert (tmp_path / "vanishing_gradient.png").is_file()


def test_09_deep_belief_net_pretrains_and_fine_tunes_past_97_percent(run_lesson):
    result = run_lesson("09_deep_belief_net")
    for history in result["pretrain_histories"]:
        assert history["pseudo_log_likelihood"][-1] > history["pseudo_log_likelihood"][0]
    assert result["accuracy"]["all labels, pretrained"] >= 0.97
    assert result["accuracy"]["10% of labels, pretrained"] >= 0.8
    assert len(result["plots"]) == 2
