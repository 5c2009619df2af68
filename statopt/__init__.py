"""statopt: classic statistical optimisation algorithms as scikit-learn estimators."""

__version__ = "0.1.0.dev0"

from ._config import config_context, get_config, set_config  # noqa: E402
from .decomposition import FITSSVD  # noqa: E402
from .linear_model import (  # noqa: E402
    AdamLogisticRegression,
    CensoredMissingQuantileRegressor,
    RobustPairedClassifier,
)
from .multimodal import TensorCrossModalRegressor  # noqa: E402
from .neural_network import (  # noqa: E402
    EventAdversarialClassifier,
    SimilarityAwareMultimodalClassifier,
)

__all__ = [
    "AdamLogisticRegression",
    "CensoredMissingQuantileRegressor",
    "EventAdversarialClassifier",
    "FITSSVD",
    "RobustPairedClassifier",
    "SimilarityAwareMultimodalClassifier",
    "TensorCrossModalRegressor",
    "__version__",
    "config_context",
    "get_config",
    "set_config",
]

from .neural_network import (  # noqa: E402
    AuxiliaryLearningClassifier,
    AuxiliaryLearningRegressor,
)

__all__ += ["AuxiliaryLearningClassifier", "AuxiliaryLearningRegressor"]
