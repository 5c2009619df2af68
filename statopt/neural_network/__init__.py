"""Neural-network core: layers, heads, stacks, Hessian-vector products, training.

Layers and heads carry their forward pass, backward pass and R-operator side by side
(:mod:`._layers`); :class:`Stack` and :class:`Network` chain them on one flat
parameter vector and give gradients and exact Hessian-vector products; :class:`
MinibatchTrainer` is the one minibatch driver every network estimator trains with, on
the optimisers and schedules of :mod:`statopt.optim`.
"""

from ._adversarial import EventAdversarialClassifier
from ._auxiliary import AuxiliaryLearningClassifier, AuxiliaryLearningRegressor
from ._layers import (
    Dense,
    Dropout,
    GradientReversal,
    Head,
    Identity,
    Layer,
    LeakyReLU,
    Logistic,
    ReLU,
    SigmoidCrossEntropy,
    SoftmaxCrossEntropy,
    SoftTargetCrossEntropy,
    SquaredLoss,
    Tanh,
)
from ._network import Branches, MultiHeadNetwork, Network, Stack
from ._similarity_aware import SimilarityAwareMultimodalClassifier
from ._training import OPTIMIZERS, MinibatchTrainer

__all__ = [
    "AuxiliaryLearningClassifier",
    "AuxiliaryLearningRegressor",
    "EventAdversarialClassifier",
    "SimilarityAwareMultimodalClassifier",
    "Layer",
    "Dense",
    "ReLU",
    "LeakyReLU",
    "Tanh",
    "Logistic",
    "Identity",
    "Dropout",
    "GradientReversal",
    "Head",
    "SoftmaxCrossEntropy",
    "SoftTargetCrossEntropy",
    "SigmoidCrossEntropy",
    "SquaredLoss",
    "Stack",
    "Branches",
    "Network",
    "MultiHeadNetwork",
    "MinibatchTrainer",
    "OPTIMIZERS",
]
