"""Loading the catalogue shipped with trialdesk, extended by any protocol's own elements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources

from trialdesk import yamlio
from trialdesk.catalogue.model import DataElement


class Catalogue:
    """Data elements by name. Unknown names are a KeyError naming the element."""

    def __init__(self, elements: Iterable[DataElement]) -> None:
        self._by_name: dict[str, DataElement] = {}
        for element in elements:
            if element.name in self._by_name:
                raise ValueError(f"data element {element.name!r} is defined twice")
            self._by_name[element.name] = element

    def __getitem__(self, name: str) -> DataElement:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown data element {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[DataElement]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return list(self._by_name)

    def extended(self, extra: Iterable[DataElement]) -> Catalogue:
        """A new catalogue with `extra` added; a protocol element may replace a default one."""
        merged = dict(self._by_name)
        merged.update({element.name: element for element in extra})
        return Catalogue(merged.values())

    def by_loinc(self, loinc: str) -> DataElement | None:
        return next((e for e in self if e.codes.loinc == loinc), None)


@cache
def default_catalogue() -> Catalogue:
    """The catalogue shipped in `trialdesk/catalogue/elements.yaml`."""
    text = resources.files("trialdesk.catalogue").joinpath("elements.yaml").read_text("utf-8")
    raw = yamlio.safe_load(text)
    return Catalogue(DataElement.model_validate(item) for item in raw["elements"])
