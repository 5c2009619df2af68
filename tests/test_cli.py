"""The command line: python -m statopt reproduce."""

import subprocess
import sys

from statopt.__main__ import main


def test_help_lists_the_experiments():
    result = subprocess.run([sys.executable, "-m", "statopt", "reproduce", "--help"],
                            capture_output=True, text=True, check=True)
    assert "adam" in result.stdout and "--quick" in result.stdout


def test_unknown_experiment_is_an_error(capsys):
    assert main(["reproduce", "nope"]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def test_reproduce_adam_prints_ours_beside_the_published_figures(capsys, tmp_path):
    # An empty data home skips MNIST, which keeps this test short.
    assert main(["reproduce", "adam", "--quick", "--data-home", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "p=19" in out and "p=99" in out and "MNIST 0 vs 6: skipped" in out
    lines = out.splitlines()
    rows = [line.split() for line in lines if line.strip().startswith("ours")]
    assert len(rows) == 2
    # The default reaches lbfgs's optimum: the objective gap column is tiny.
    gaps = [float(row[6]) for row in rows]  # "ours (default)" spans two fields
    assert all(abs(gap) < 1e-8 for gap in gaps)
    assert "0.23 s" in out and "1.26 s" in out  # published SGD times
