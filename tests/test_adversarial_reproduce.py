"""python -m statopt reproduce adversarial --quick: every row of the issue's table."""

from statopt.__main__ import main


def test_reproduce_adversarial_quick_prints_every_method(capsys, tmp_path):
    assert main(["reproduce", "adversarial", "--quick", "--data-home",
                 str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ["no reversal", "reversal lambda=0.3, decay",
                 "reversal lambda=1, no decay", "logistic, event-balancing weights",
                 "pixels only (oracle)", "ours (GroupKFold lambda)", "lambda sweep"]:
        assert name in out
    # The oracle sees no event column: it must beat the plain network on test A.
    oracle = float(out.split("pixels only (oracle)")[1].split()[0])
    plain = float(out.split("no reversal")[1].split()[0])
    assert oracle > plain
