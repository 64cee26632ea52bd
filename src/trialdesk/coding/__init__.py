"""Medical coding dictionaries (issue #14): pure readers, no database.

* `read_meddra(dir)` reads a MedDRA release in its ASCII distribution format (``llt.asc`` …
  ``mdhier.asc``, ``meddra_release.asc``) into LLTs with their primary path to the SOC;
* `read_drugs(dir)` reads the drug dictionary (ATC-index style, see `trialdesk.coding.drugs`);
* `normalise(text)` is the matching key for autocoding (case- and space-insensitive).

Malformed files raise `DictionaryFormatError` naming file, line and field. The services
(`trialdesk.services.coding`) store releases and coding assignments.
"""

from trialdesk.coding.coded import MEDDRA_SYSTEM, CodedDrug, CodedTerm
from trialdesk.coding.drugs import DrugRelease, DrugTerm, read_drugs
from trialdesk.coding.errors import DictionaryFormatError
from trialdesk.coding.meddra import MeddraRelease, MeddraTerm, read_meddra
from trialdesk.coding.records import normalise

__all__ = [
    "MEDDRA_SYSTEM",
    "CodedDrug",
    "CodedTerm",
    "DictionaryFormatError",
    "DrugRelease",
    "DrugTerm",
    "MeddraRelease",
    "MeddraTerm",
    "normalise",
    "read_drugs",
    "read_meddra",
]
