"""python -m statopt reproduce adversarial --quick: every row of the issue's table."""

import numpy as np

from statopt.__main__ import main
from statopt._reproduce.adversarial import _balancing_weights


def test_reproduce_adversarial_quick_prints_every_method(capsys, tmp_path):
    assert main(["reproduce", "adversarial", "--quick", "--data-home",
                 str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ["no reversal", "reversal lambda=0.3, decay",
                 "reversal lambda=1, no decay", "logistic, event-balancing weights",
                 "pixels only (oracle)", "ours (GroupKFold lambda)",
                 "ours (balanced-CV lambda)", "lambda sweep"]:
        assert name in out
    # The oracle sees no event column: it must beat the plain network on test A.
    oracle = float(out.split("pixels only (oracle)")[1].split()[0])
    plain = float(out.split("no reversal")[1].split()[0])
    assert oracle > plain


def test_balancing_weights_make_the_event_uninformative_about_the_label():
    # Every (event, label) cell weighs the same in total, so under the weights the
    # event's distribution is the same for every label (what test A presents).
    rng = np.random.RandomState(0)
    y = rng.randint(0, 4, 500)
    events = np.where(rng.uniform(size=500) < 0.9, y // 2, rng.randint(0, 2, 500))
    weight = _balancing_weights(y, events)
    cells = {(e, label): weight[(events == e) & (y == label)].sum()
             for e in np.unique(events) for label in np.unique(y)}
    assert np.allclose(list(cells.values()), list(cells.values())[0])
    assert np.isclose(weight.mean(), 1.0)
