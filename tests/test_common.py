"""scikit-learn's estimator checks over every public statopt estimator."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from statopt import AdamLogisticRegression

# Small budgets keep the checks fast; each setting still lets the fit finish.
ESTIMATORS = [
    AdamLogisticRegression(max_iter=300, random_state=0),
]

# Checks expected to fail, with the reason.
EXPECTED_FAILED_CHECKS = {
    "AdamLogisticRegression": {},
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
