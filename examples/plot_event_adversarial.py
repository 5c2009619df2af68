"""
================================================
Gradient reversal against an event shortcut
================================================

In training, the event a digit came from (5 extra columns) predicts its label; at
test time it does not. :class:`~statopt.EventAdversarialClassifier` trains its
features against an event discriminator through a gradient-reversal layer. This
example plots test accuracy against the reversal weight ``lambda`` and the learned
features, coloured by event, without and with reversal.
"""

# %%
# Data and a lambda sweep
# -----------------------
# Test A keeps the training events but draws them independently of the label;
# test B uses unseen events. The sweep is shown, not used to choose lambda: choose
# it on the training rows by folds scored with (event, label)-balancing weights
# (see the User Guide).
import warnings

import matplotlib.pyplot as plt
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from statopt import EventAdversarialClassifier
from statopt.datasets import make_event_shortcut

data = make_event_shortcut(random_state=0)
lambdas = [0.0, 0.1, 0.3, 1.0]
models, accuracy_a, accuracy_b = {}, [], []
for weight in lambdas:
    model = EventAdversarialClassifier(hidden_layer_sizes=(64,), learning_rate=1e-2,
                                       batch_size=64, max_iter=100,
                                       adversary_weight=weight, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data.X_train, data.y_train, events=data.events_train)
    models[weight] = model
    accuracy_a.append(model.score(data.X_test_a, data.y_test_a))
    accuracy_b.append(model.score(data.X_test_b, data.y_test_b))

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(lambdas, accuracy_a, "o-", label="A: events independent of the label")
ax.plot(lambdas, accuracy_b, "s-", label="B: unseen events")
ax.set_xscale("symlog", linthresh=0.1)
ax.set_xlabel("adversary_weight (lambda)")
ax.set_ylabel("test accuracy")
ax.legend()
fig.tight_layout()

# %%
# Features coloured by event
# --------------------------
# Two principal components of the learned features of the training rows. Without
# reversal the events form their own clusters; with it they mix within the digit
# clusters. ``event_leakage`` asks a fresh logistic probe: it still finds the
# events (reversal hides them from its own discriminator, not from every probe).
fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
for ax, weight in zip(axes, [0.0, 0.3]):
    features = models[weight].transform(data.X_train)
    points = PCA(2, random_state=0).fit_transform(features)
    ax.scatter(points[:, 0], points[:, 1], c=data.events_train, cmap="tab10", s=4)
    leakage = models[weight].event_leakage(data.X_test_a, data.events_test_a)
    ax.set_title(f"lambda={weight:g}: probe {leakage.accuracy:.2f} "
                 f"(chance {leakage.chance:.2f})")
fig.tight_layout()
plt.show()

print({weight: (round(a, 3), round(b, 3))
       for weight, a, b in zip(lambdas, accuracy_a, accuracy_b)})
