"""Independent, reproducible random streams: one per (seed, purpose, index).

Every candidate and every participant gets its own `numpy.random.Generator` from
``SeedSequence(seed, spawn_key=(purpose, index))`` (NumPy's recommended way to make
statistically independent streams). So a run is reproducible from its seed, and adding
candidates or participants never changes the ones already simulated.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """What a random stream is used for (part of its spawn key; never renumber)."""

    CANDIDATE = 1
    FOLLOWUP = 2
    ADVERSE_EVENTS = 3
    ENROLMENT = 4
    SAFETY_LABS = 5


def rng_for(seed: int, stream: Stream, index: int) -> np.random.Generator:
    """The generator for one (seed, stream, index); the same arguments give the same draws."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: {seed!r} is not a whole number >= 0")
    sequence = np.random.SeedSequence(int(seed), spawn_key=(int(stream), int(index)))
    return np.random.default_rng(sequence)
