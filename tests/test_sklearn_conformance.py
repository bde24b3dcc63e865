"""scikit-learn's own conformance suite (``check_estimator``) on every
fitted scaler, and the array conventions it relies on."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import polars_mlkit as pmk
import pytest
from sklearn.utils.estimator_checks import check_estimator

SCALERS = [pmk.MinMaxScaler, pmk.StandardScaler, pmk.RobustScaler, pmk.MaxAbsScaler]
SCALERS += [pmk.QuantileTransformer, pmk.PowerTransformer, pmk.KBinsDiscretizer, pmk.PCA]


@pytest.mark.parametrize("cls", SCALERS, ids=lambda c: c.__name__)
def test_check_estimator_passes(cls: type) -> None:
    with warnings.catch_warnings():
        # The checks warn on purpose (skipped checks, odd inputs).
        warnings.simplefilter("ignore")
        results: list[dict[str, Any]] = check_estimator(cls(), on_fail=None)
    failed = [
        f"{r['check_name']}: {str(r['exception']).splitlines()[0]}"
        for r in results
        if r["status"] == "failed"
    ]
    assert len(results) >= 40
    assert failed == []


@pytest.mark.parametrize("cls", SCALERS, ids=lambda c: c.__name__)
def test_array_conventions(cls: type) -> None:
    x = np.arange(12.0).reshape(6, 2)
    sc = cls().fit(x)
    with pytest.raises(ValueError, match=r"X has 3 features, but \w+ is expecting 2"):
        sc.transform(np.ones((2, 3)))
    with pytest.raises(ValueError, match="Reshape your data"):
        sc.transform(np.ones(2))
    with pytest.raises(ValueError, match="0 sample"):
        cls().fit(np.empty((0, 2)))
    with pytest.raises(ValueError, match="0 feature"):
        cls().fit(np.empty((3, 0)))
    with pytest.raises(ValueError, match="Complex"):
        cls().fit(x + 1j)
    bad = x.astype(object)
    bad[0, 0] = {"a": 1}
    with pytest.raises(TypeError, match=r"argument must be a string.* number"):
        cls().fit(bad)
    as_object = cls().fit(x.astype(object)).transform(x)
    np.testing.assert_array_equal(as_object, sc.transform(x))
    np.testing.assert_array_equal(cls().fit(x.tolist()).transform(x), sc.transform(x))
