"""The study this database runs: its protocol and data-element catalogue.

``TRIALDESK_PROTOCOL`` may name a protocol YAML file; by default the built-in NCT01142050.
"""

from __future__ import annotations

import os
from functools import cache

from trialdesk.catalogue import Catalogue
from trialdesk.protocol import Protocol, builtin_protocol, catalogue_for, load_protocol

PROTOCOL_ENV = "TRIALDESK_PROTOCOL"


@cache
def _load(path: str | None) -> Protocol:
    return load_protocol(path) if path else builtin_protocol()


def _protocol_path() -> str | None:
    return os.environ.get(PROTOCOL_ENV) or None


def current_protocol() -> Protocol:
    return _load(_protocol_path())


@cache
def _catalogue(path: str | None) -> Catalogue:
    return catalogue_for(_load(path))


def current_catalogue() -> Catalogue:
    """Built once per protocol: every value entered looks its element up here."""
    return _catalogue(_protocol_path())
