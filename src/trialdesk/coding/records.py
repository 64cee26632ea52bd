"""Reading ``$``-delimited dictionary records (MedDRA ASCII files and the drug dictionary).

Both formats put one record on a line, fields separated by ``$`` and the record closed by a
trailing ``$`` (MedDRA MSSO, *Distribution File Format*, "ASCII files": "each field is
delimited by a dollar sign"; see [@MedDRADist]). English MedDRA files are extended ASCII,
other languages UTF-8, so a file is read as UTF-8 and, failing that, as Latin-1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from trialdesk.coding.errors import DictionaryFormatError


@dataclass(frozen=True)
class Record:
    """One line of a file, its fields by name."""

    file: str
    line: int
    values: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.values[name]

    def code(self, name: str) -> int:
        """A numeric code field (MedDRA codes are 8-digit integers) or a clear error."""
        text = self.values[name]
        if not text.isdigit():
            raise DictionaryFormatError(
                self.file, f"{text!r} is not a numeric code", line=self.line, field=name
            )
        return int(text)

    def text(self, name: str) -> str:
        """A required text field or a clear error."""
        text = self.values[name].strip()
        if not text:
            raise DictionaryFormatError(self.file, "is empty", line=self.line, field=name)
        return text


def read_text(path: Path) -> str:
    if not path.is_file():
        raise DictionaryFormatError(path.name, "the file is missing from the release directory")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_records(
    path: Path, fields: Sequence[str], *, required: int | None = None
) -> Iterator[Record]:
    """Yield the records of `path` with `fields` named in order.

    A record needs at least `required` fields (default: all); trailing optional fields may be
    absent. More fields than the layout has is an error (a shifted or corrupt line).
    """
    need = len(fields) if required is None else required
    for number, raw in enumerate(read_text(path).splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        parts = line.split("$")
        if parts and parts[-1] == "":
            parts = parts[:-1]  # the closing "$"
        if len(parts) < need:
            raise DictionaryFormatError(
                path.name,
                f"has {len(parts)} fields, the layout needs {need} ({', '.join(fields[:need])})",
                line=number,
                field=fields[len(parts)],
            )
        if len(parts) > len(fields):
            raise DictionaryFormatError(
                path.name,
                f"has {len(parts)} fields, the layout has {len(fields)} ({', '.join(fields)})",
                line=number,
            )
        padded = [*parts, *([""] * (len(fields) - len(parts)))]
        yield Record(path.name, number, dict(zip(fields, padded, strict=True)))


def content_hash(directory: Path, names: Sequence[str]) -> str:
    """SHA-256 over the files' names and bytes, in the given order (what was loaded)."""
    digest = hashlib.sha256()
    for name in names:
        path = directory / name
        digest.update(name.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"")
        digest.update(b"\0")
    return digest.hexdigest()


def normalise(text: str) -> str:
    """The matching key of a verbatim term: case- and space-insensitive (case folded, runs of
    white space made one space, ends trimmed)."""
    return " ".join(str(text).split()).casefold()
