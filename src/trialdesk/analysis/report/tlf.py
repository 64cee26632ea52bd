"""Tables, listings and figures (TLFs) numbered as a statistical analysis plan numbers them.

The numbering follows the structure of a clinical study report (ICH E3 [@ICH-E3], sections
14 and 16): 14.1 demographic data, 14.2 efficacy data, 14.3 safety data, 16.2 subject data listings
(16.2.6 individual efficacy response data, 16.2.7 adverse event listings, 16.2.8 individual
laboratory measurements). The outputs come
from the existing `ReportTable` objects and report figures; a table added later is placed by
its key (an unknown key counts as efficacy), so new tables get a number without edits here.

Also here, shared by the HTML/PDF, DOCX and RTF writers: column spanners (a header over a
group of columns, as gt's `tab_spanner` or rtables' column splits print them) and the split of
a cell at its first decimal point, so that numbers line up on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from trialdesk.analysis.report.figures_set import ReportFigure
from trialdesk.analysis.results import StudyResults
from trialdesk.analysis.tables import ReportTable

ITT_SET = "Intention-to-treat set"
SAFETY_SET = "Safety set"
SCREENED_SET = "All screened candidates"
#: First line of the table of contents as written (the field's cached result), until the
#: program that opens the file updates the field: Word does when it opens the file
#: (w:updateFields); LibreOffice only on request (Tools > Update > Update All), since it
#: keeps a TOC field's cached result on opening and converting.
TOC_UPDATE_NOTE = (
    "Page numbers appear once the fields are updated (Word: accept its offer on opening, or "
    "Ctrl+A then F9; LibreOffice: Tools > Update > Update All)."
)

#: ICH E3 section per output group: (prefix of the number, section title).
SECTIONS: dict[str, str] = {
    "14.1": "Demographic and other baseline data",
    "14.2": "Efficacy data",
    "14.3": "Safety data",
    "16.2": "Subject data listings",
}


@dataclass(frozen=True)
class Placement:
    """Where a table key goes: section, sub-number and population."""

    section: str
    group: int
    population: str
    kind: str = "Table"


def _placement(key: str) -> Placement:
    """The SAP place of a table by its key (first matching prefix; efficacy when unknown)."""
    rules: list[tuple[tuple[str, ...], Placement]] = [
        (("flow",), Placement("14.1", 1, SCREENED_SET)),
        (("baseline",), Placement("14.1", 2, ITT_SET)),
        (("primary",), Placement("14.2", 1, ITT_SET)),
        (("insulin", "ogld", "dose"), Placement("14.2", 2, ITT_SET)),
        (("visits_",), Placement("14.2", 3, ITT_SET)),
        (("models", "mmrm"), Placement("14.2", 4, ITT_SET)),
        (("unscheduled",), Placement("16.2", 6, ITT_SET, "Listing")),
        (("sae_listing", "ae_listing"), Placement("16.2", 7, SAFETY_SET, "Listing")),
        (("ae_", "sae_grade", "sae_criteria"), Placement("14.3", 1, SAFETY_SET)),
        # ICH E3 16.2.8: listing of individual laboratory measurements.
        (("lab_",), Placement("16.2", 8, SAFETY_SET, "Listing")),
    ]
    for prefixes, placement in rules:
        if key.startswith(prefixes):
            return placement
    return Placement("14.2", 5, ITT_SET)


@dataclass(frozen=True)
class Output:
    """One numbered output: a table or listing (`table`) or a figure (`figure`)."""

    number: str
    kind: str  # "Table", "Listing" or "Figure"
    title: str
    population: str
    table: ReportTable | None = None
    figure: ReportFigure | None = None

    @property
    def label(self) -> str:
        """The kind and number, e.g. "Table 14.2.1" (title line, running head, contents)."""
        return f"{self.kind} {self.number}"

    @property
    def anchor(self) -> str:
        return f"{self.kind.lower()}-{self.number.replace('.', '-')}"

    @property
    def section(self) -> str:
        return ".".join(self.number.split(".")[:2])


_FIGURE_SECTION = {"consort": ("14.1", SCREENED_SET)}


def number_outputs(tables: list[ReportTable], figures: dict[str, ReportFigure]) -> list[Output]:
    """Every table, listing and figure with its SAP number, in reading order."""
    counters: dict[tuple[str, int], int] = {}
    outputs: list[Output] = []
    for table in tables:
        place = _placement(table.key)
        slot = (place.section, place.group)
        counters[slot] = counters.get(slot, 0) + 1
        number = f"{place.section}.{place.group}"
        if _is_series(tables, place):
            number += f".{counters[slot]}"
        outputs.append(Output(number, place.kind, table.title, place.population, table=table))
    outputs += _figure_outputs(figures)
    return sorted(outputs, key=lambda o: _sort_key(o.number, o.kind))


def _is_series(tables: list[ReportTable], place: Placement) -> bool:
    """Whether more than one table shares this place (then they are numbered x.y.z.1, .2 …)."""
    return sum(1 for t in tables if _placement(t.key) == place) > 1


def _figure_outputs(figures: dict[str, ReportFigure]) -> list[Output]:
    """Figures are numbered in their own series per section (Figure 14.1.1, 14.2.1 …)."""
    counters: dict[str, int] = {}
    found: list[Output] = []
    for key, fig in figures.items():
        section, population = _FIGURE_SECTION.get(key, ("14.2", ITT_SET))
        counters[section] = counters.get(section, 0) + 1
        number = f"{section}.{counters[section]}"
        found.append(Output(number, "Figure", fig.title, population, figure=fig))
    return found


def _sort_key(number: str, kind: str) -> tuple[int, ...]:
    """Section first, then its tables and listings, then its figures, each by number."""
    parts = [int(part) for part in number.split(".")]
    return (*parts[:2], 1 if kind == "Figure" else 0, *parts[2:])


def sections(outputs: list[Output]) -> list[tuple[str, str, list[Output]]]:
    """(number, title, outputs) for each ICH E3 section that has outputs, in order."""
    found = []
    for prefix, title in SECTIONS.items():
        members = [o for o in outputs if o.section == prefix]
        if members:
            found.append((prefix, title, members))
    return found


# --- column spanners -----------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """A header over columns `first`..`last` (0-based, inclusive); `label` "" for none."""

    label: str
    first: int
    last: int

    @property
    def width(self) -> int:
        return self.last - self.first + 1


_AFFECTED = "Participants with at least one event"

#: Spanners by table key prefix: (label, first column name pattern, last column name pattern).
#: Patterns are regular expressions on the column headings, so a renamed visit still matches;
#: a spanner whose columns are not found is dropped (the table prints without it).
_SPANNERS: dict[str, list[tuple[str, str, str]]] = {
    "primary": [
        ("Observed means", r"^Baseline mean$", r"^(?!Baseline ).+ mean$"),
        ("Paired analysis (participants with both values)", r"^Mean change", r"^p \(Wilcoxon\)"),
        ("Mixed model for repeated measures", r"^MMRM", r"^p \(MMRM\)"),
    ],
    "visits_": [
        ("Observed value", r"^Mean \(SD\)$", r"^Median"),
        ("Change from baseline", r"^Change \[", r"^MMRM"),
    ],
    "ae_": [(_AFFECTED, r"^Participants$", r"CI")],
    "sae_grade": [(_AFFECTED, r"^Participants$", r"CI")],
    "sae_criteria": [(_AFFECTED, r"^Participants$", r"CI")],
    "models": [("Fit", r"^REML log-likelihood$", r"^LR test")],
}


def _index(columns: list[str], pattern: str, start: int) -> int | None:
    for i in range(start, len(columns)):
        if re.search(pattern, columns[i]):
            return i
    return None


def spanners(table: ReportTable) -> list[Span]:
    """The spanner row of `table`: spans covering every column ("" over unspanned columns);
    empty when the table has no spanner."""
    rules = next((r for p, r in _SPANNERS.items() if table.key.startswith(p)), [])
    found: list[Span] = []
    cursor = 0
    for label, first_pattern, last_pattern in rules:
        first = _index(table.columns, first_pattern, cursor)
        last = _index(table.columns, last_pattern, first) if first is not None else None
        if first is None or last is None:
            continue
        found += [Span("", i, i) for i in range(cursor, first)]
        found.append(Span(label, first, last))
        cursor = last + 1
    if not found:
        return []
    return found + [Span("", i, i) for i in range(cursor, len(table.columns))]


# --- decimal alignment ---------------------------------------------------------------------

_FIRST_NUMBER = re.compile(r"^([^0-9]*?[-−+]?\d+)(.*)$", re.DOTALL)


def split_decimal(cell: str) -> tuple[str, str]:
    """The cell cut after the integer part of its first number: ("−0", ".63 [−0.90, …]").

    Right-aligning the first part and left-aligning the second lines the decimal points up,
    as SAS ODS and gt's `cols_align_decimal` do. A cell without a number is all first part.
    """
    match = _FIRST_NUMBER.match(cell)
    if match is None:
        return cell, ""
    return match.group(1), match.group(2)


def is_numeric_column(table: ReportTable, column: int) -> bool:
    return column < len(table.numeric) and table.numeric[column]


FIGURE_SPACE = "\u2007"  # as wide as a digit (Unicode 15.0, General Punctuation)


def decimal_padded(table: ReportTable, column: int) -> list[str]:
    """The cells of a numeric column, each padded after its number with figure spaces so the
    parts after the decimal points have one length: right-aligned, the decimal points line
    up without decimal tab stops (which LibreOffice ignores in RTF table cells and misplaces
    in DOCX ones; seen on the rendered pages). Text columns come back unchanged."""
    cells = [row[column] if column < len(row) else "" for row in table.rows]
    if not is_numeric_column(table, column):
        return cells
    tails = [len(split_decimal(cell)[1]) for cell in cells]
    longest = max(tails, default=0)
    return [cell + FIGURE_SPACE * (longest - tail) for cell, tail in zip(cells, tails, strict=True)]


def lead_width(table: ReportTable, column: int) -> int:
    """Characters of the longest integer part in a numeric column (for aligning on it)."""
    return max((len(split_decimal(row[column])[0]) for row in table.rows), default=1)


# --- page layout -----------------------------------------------------------------------------

#: Characters of 8 pt text across the text width of an A4 portrait page (180 mm); a table
#: whose columns need more is set on a landscape page (267 mm).
PORTRAIT_CHARACTERS = 105
_CELL_PADDING = 2  # characters of padding per column
_MIN_TEXT_CHARS = 10  # a text column narrower than this would wrap every word


def column_chars(table: ReportTable, column: int) -> int:
    """Width a column needs: its longest cell, or its heading's longest word (headings wrap)."""
    cells = [len(row[column]) for row in table.rows if column < len(row)]
    if is_numeric_column(table, column) and table.rows:  # as padded by `decimal_padded`
        leads = [len(split_decimal(row[column])[0]) for row in table.rows if column < len(row)]
        tails = [len(split_decimal(row[column])[1]) for row in table.rows if column < len(row)]
        cells = [max(leads, default=0) + max(tails, default=0)]
    # Headings are bold (about a tenth wider): one character more for the longest word.
    heading = max((len(word) for word in table.columns[column].split()), default=1) + 1
    return max([heading, *cells]) + _CELL_PADDING


def fitted_chars(table: ReportTable, available: float) -> list[float]:
    """Column widths (in characters) that fill `available` characters: numbers keep the width
    they need (they must not wrap); text columns (which wrap) give way when the table is too
    wide; a narrow table is spread over the whole width, as SAS ODS RTF and r2rtf do."""
    need = [float(column_chars(table, i)) for i in range(len(table.columns))]
    total = sum(need)
    if total <= available:
        return [n * available / total for n in need]
    fixed = sum(n for i, n in enumerate(need) if is_numeric_column(table, i))
    room = available - fixed
    text = total - fixed
    if text > 0 and room >= _MIN_TEXT_CHARS * (len(need) - sum(table.numeric)):
        return [n if is_numeric_column(table, i) else n * room / text for i, n in enumerate(need)]
    return [n * available / total for n in need]


def widest_cell(table: ReportTable, column: int) -> int:
    """Characters of the longest cell of a column (heading excluded)."""
    return max((len(row[column]) for row in table.rows if column < len(row)), default=1)


def is_wide(table: ReportTable) -> bool:
    """Whether the table needs a landscape page."""
    return sum(column_chars(table, i) for i in range(len(table.columns))) > PORTRAIT_CHARACTERS


def data_cut(results: StudyResults) -> str:
    """The data cut-off: the latest date of any analysed value or adverse event (ISO 8601)."""
    datasets = results.datasets
    columns = [(datasets.adeff, "ADT"), (datasets.adae, "ASTDT"), (datasets.adae, "AENDT")]
    found = [
        pd.to_datetime(frame[column], errors="coerce").max()
        for frame, column in columns
        if column in frame and not frame.empty
    ]
    latest = max((d for d in found if not pd.isna(d)), default=None)
    return "not available" if latest is None else pd.Timestamp(latest).date().isoformat()
