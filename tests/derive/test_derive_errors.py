"""DerivationError: message format, attributes, pickling; docstring examples run as tests."""

from __future__ import annotations

import doctest
import pickle
from datetime import date
from types import ModuleType

import numpy as np
import pytest

from trialdesk import derive
from trialdesk.derive import (
    DerivationError,
    anthropometry,
    demography,
    dosing,
    errors,
    homa,
    itt,
)


def test_message_names_argument_value_and_expectation() -> None:
    err = DerivationError("glucose[2]", -3.0, "a positive concentration")
    assert str(err) == "glucose[2]=-3.0: expected a positive concentration"
    assert err.argument == "glucose[2]"
    assert err.value == -3.0
    assert err.expected == "a positive concentration"
    assert isinstance(err, ValueError)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (np.float64(-3.0), "-3.0"),
        (np.int64(7), "7"),
        (float("nan"), "nan"),
        (date(2021, 2, 28), "2021-02-28"),
        ("metfromin", "'metfromin'"),
        (True, "True"),
    ],
)
def test_message_renders_values_plainly(value: object, shown: str) -> None:
    assert str(DerivationError("x", value, "y")) == f"x={shown}: expected y"


def test_pickle_round_trip_keeps_attributes() -> None:
    err = DerivationError("height_m", 170.0, "a height in metres")
    copy = pickle.loads(pickle.dumps(err))
    assert isinstance(copy, DerivationError)
    assert (copy.argument, copy.value, copy.expected) == ("height_m", 170.0, "a height in metres")
    assert str(copy) == str(err)


@pytest.mark.parametrize("module", [errors, itt, homa, anthropometry, demography, dosing])
def test_docstring_worked_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_every_public_function_has_a_worked_example_and_a_source() -> None:
    for name in derive.__all__:
        obj = getattr(derive, name)
        if callable(obj) and name.startswith(("compute_", "is_")):
            doc = obj.__doc__ or ""
            assert ">>> " in doc, name
            assert "Source" in doc, name
            assert "Permitted values" in doc, name
