"""Concept sets as data files (`concept_sets/*.yaml`), expanded through `concept_ancestor`.

A concept set is a list of OMOP standard concept ids, each optionally with its descendants and
optionally excluded, as in an OHDSI Circe/ATLAS concept-set expression ([@OHDSI-Circe]:
``items[{concept, includeDescendants, isExcluded}]``). With a vocabulary in the database the
descendants come from ``concept_ancestor`` (which holds a self-row for every concept); without one
only the listed ids match, so every file also lists its most common leaf concepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trialdesk import yamlio

Domain = Literal["condition", "drug", "measurement", "observation"]


class ConceptSetError(ValueError):
    """A concept-set file that cannot be used: names the file and the reason."""


class ConceptItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    concept_id: int = Field(gt=0)
    name: str
    include_descendants: bool = False
    exclude: bool = False


class ConceptSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    domain: Domain
    items: tuple[ConceptItem, ...] = Field(min_length=1)

    @property
    def listed_ids(self) -> frozenset[int]:
        """Included ids as listed, without descendants (what matches with no vocabulary)."""
        return frozenset(i.concept_id for i in self.items if not i.exclude)

    def expand(self, descendants: Mapping[int, Iterable[int]]) -> frozenset[int]:
        """Included ids plus the descendants of those that ask for them, minus exclusions.

        `descendants` maps an ancestor concept id to its descendant ids (concept_ancestor).
        """

        def ids(item: ConceptItem) -> set[int]:
            found = {item.concept_id}
            if item.include_descendants:
                found |= set(descendants.get(item.concept_id, ()))
            return found

        included: set[int] = set()
        excluded: set[int] = set()
        for item in self.items:
            (excluded if item.exclude else included).update(ids(item))
        return frozenset(included - excluded)


def parse_concept_set(text: str, source: str) -> ConceptSet:
    try:
        raw: Any = yamlio.safe_load(text)
        return ConceptSet.model_validate(raw)
    except yaml.YAMLError as exc:
        raise ConceptSetError(f"{source}: not valid YAML ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(file)"
        raise ConceptSetError(f"{source}: {where}: {first['msg']}") from None


@cache
def builtin_concept_sets() -> dict[str, ConceptSet]:
    """The concept sets shipped in `trialdesk/prescreen/concept_sets/`, by name."""
    folder = resources.files("trialdesk.prescreen").joinpath("concept_sets")
    sets: dict[str, ConceptSet] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        concept_set = parse_concept_set(entry.read_text("utf-8"), entry.name)
        if concept_set.name != entry.name.removesuffix(".yaml"):
            raise ConceptSetError(f"{entry.name}: name {concept_set.name!r} differs from the file")
        sets[concept_set.name] = concept_set
    return sets


def load_concept_sets(folder: str | Path) -> dict[str, ConceptSet]:
    """The built-in concept sets, with those of `folder` (`<name>.yaml`) replacing or adding.

    A site's local codes are the normal case: a file ``t2dm.yaml`` listing the site's own
    concept ids replaces the built-in T2DM set; a new name adds a set an element map can use.
    Every problem names the file (and the field).
    """
    path = Path(folder)
    if not path.is_dir():
        raise ConceptSetError(f"--concept-sets: {path} is not a folder")
    files = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
    if not files:
        raise ConceptSetError(f"--concept-sets: {path} holds no .yaml concept-set files")
    sets = dict(builtin_concept_sets())
    for file in files:
        try:
            text = file.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConceptSetError(f"{file}: cannot be read as UTF-8 text ({exc})") from None
        concept_set = parse_concept_set(text, str(file))
        if concept_set.name != file.stem:
            raise ConceptSetError(
                f"{file}: name: {concept_set.name!r} differs from the file name {file.stem!r}"
            )
        sets[concept_set.name] = concept_set
    return sets
