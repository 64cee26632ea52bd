"""The TLFs as one RTF file, the format SAS ODS RTF and R's r2rtf give statisticians to edit.

Written by hand from the Rich Text Format Specification 1.9.1 [@RTF-1.9.1]: one section
per output (`\\sect`), portrait or landscape (`\\lndscpsxn`), with its own page head (study,
output number, simulated-data stamp) and foot (population, data cut, "Page x of y" from the
PAGE and NUMPAGES fields); heading rows marked to repeat on each page (`\\trhdr`), spanners
as wider cells, numbers right-aligned in their column (`\\qr`) and padded after the
number with figure spaces, so the decimal points line up (`tlf.decimal_padded`; decimal tab
stops `\\tqdec` in table cells are ignored by LibreOffice's RTF reader, seen on the rendered
pages). The contents are a TOC field
(`\\field{\\*\\fldinst TOC \\o "1-3" \\h}`) over headings with outline levels
(`\\outlinelevel`), which Word fills with page numbers when fields are updated. Text outside
ASCII is written as `\\uN?` escapes, so the file is plain 7-bit text.
"""

from __future__ import annotations

from pathlib import Path

from trialdesk.analysis.report import tlf
from trialdesk.analysis.report.estimands import Estimand
from trialdesk.analysis.report.figures_set import ReportFigure
from trialdesk.analysis.report.layout import ReportLayout
from trialdesk.analysis.tables import ReportTable

TWIPS_PER_MM = 56.6929
A4_SHORT, A4_LONG = round(210 * TWIPS_PER_MM), round(297 * TWIPS_PER_MM)
MARGIN = round(18 * TWIPS_PER_MM)
ESTIMANDS_HEADING = "Statistical analysis plan: estimands (ICH E9(R1))"
CHAR_TWIPS = 96  # mean width of one character of 8 pt Arial (twips = 1/20 pt)
HEADER = (
    "{\\rtf1\\ansi\\ansicpg1252\\deff0\\uc1"
    "{\\fonttbl{\\f0\\fswiss\\fcharset0 Arial;}}"
    "{\\colortbl;\\red0\\green0\\blue0;\\red176\\green0\\blue32;}"
    "{\\stylesheet{\\s0\\fs18 Normal;}{\\s1\\outlinelevel0\\b\\fs24\\sbasedon0 heading 1;}"
    "{\\s2\\outlinelevel1\\b\\fs20\\sbasedon0 heading 2;}}"
    "\\fs18\n"
)


ASCII_END = 0x80
BMP_END = 0x10000  # code points above need a UTF-16 surrogate pair
INT16_MAX = 0x7FFF  # \uN takes a signed 16-bit number (RTF 1.9.1, "Unicode RTF")
HIGH_SURROGATE, LOW_SURROGATE, SURROGATE_BITS = 0xD800, 0xDC00, 10  # UTF-16 (Unicode 3.9)


def _signed16(unit: int) -> str:
    return f"\\u{unit - BMP_END if unit > INT16_MAX else unit}?"


def _rtf_char(char: str) -> str:
    code = ord(char)
    if char in "\\{}":
        return "\\" + char
    if char == "\n":
        return "\\line "
    if code < ASCII_END:
        return char
    if code < BMP_END:
        return _signed16(code)
    value = code - BMP_END
    low_mask = (1 << SURROGATE_BITS) - 1
    return _signed16(HIGH_SURROGATE + (value >> SURROGATE_BITS)) + _signed16(
        LOW_SURROGATE + (value & low_mask)
    )


def rtf_text(text: str) -> str:
    """Escape RTF's special characters; non-ASCII as \\uN? escapes, so the file is 7-bit."""
    return "".join(_rtf_char(char) for char in text)


def _heading(level: int, *lines: str) -> str:
    """A heading paragraph in the style "heading `level`" with its outline level, so a TOC
    field (\\o) lists it; several lines are joined by line breaks."""
    size = 24 if level == 1 else 20
    text = "\\line ".join(rtf_text(line) for line in lines)
    return f"\\pard\\plain\\s{level}\\outlinelevel{level - 1}\\b\\fs{size} {text}\\par\n"


def _paragraph(text: str, *, bold: bool = False, size: int = 18, red: bool = False) -> str:
    style = ("\\b" if bold else "") + ("\\cf2" if red else "") + f"\\fs{size}"
    return f"\\pard\\plain{style} {rtf_text(text)}\\par\n"


def _section(landscape: bool, label: str, population: str, layout: ReportLayout) -> str:
    width, height = (A4_LONG, A4_SHORT) if landscape else (A4_SHORT, A4_LONG)
    orient = "\\lndscpsxn" if landscape else ""
    where = f"Population: {population} \u00b7 " if population else ""
    right = width - 2 * MARGIN
    stamp = f"{{\\b\\cf2 {rtf_text(layout.stamp)}}}" if layout.stamp else ""
    # The stamp on a line of its own: beside a long study name it would overprint it.
    head = (
        f"{{\\header\\pard\\plain\\fs14\\tqr\\tx{right} "
        f"{rtf_text(layout.study)}\\tab {{\\b {rtf_text(label)}}}\\par"
        f"\\pard\\plain\\fs14\\qc {stamp}\\par}}"
    )
    foot = (
        f"{{\\footer\\pard\\plain\\fs14\\tqr\\tx{right} {rtf_text(where)}Data cut "
        f"{rtf_text(layout.data_cut)}\\tab Page {{\\field{{\\*\\fldinst PAGE}}"
        f"{{\\fldrslt 1}}}} of {{\\field{{\\*\\fldinst NUMPAGES}}{{\\fldrslt 1}}}}\\par"
        f"\\pard\\plain\\fs14\\qc {stamp}\\par}}"
    )
    return (
        f"\\sectd{orient}\\pgwsxn{width}\\pghsxn{height}\\marglsxn{MARGIN}\\margrsxn{MARGIN}"
        f"\\margtsxn{MARGIN}\\margbsxn{MARGIN}\n{head}\n{foot}\n"
    )


def _row(cells: list[tuple[str, int, str]], *, heading: bool, rule_below: bool) -> str:
    """One table row: (text, right edge in twips, paragraph formatting) per cell."""
    parts = ["\\trowd\\trgaph60\\trleft0" + ("\\trhdr" if heading else "")]
    for _text, edge, _fmt in cells:
        border = "\\clbrdrb\\brdrs\\brdrw10" if rule_below else ""
        parts.append(f"{border}\\clvertalb\\cellx{edge}")
    for text, _edge, fmt in cells:
        bold = "\\b" if heading else ""
        parts.append(f"\\pard\\plain\\intbl\\fs16{bold}{fmt} {text}\\cell")
    parts.append("\\row\n")
    return "".join(parts)


def _edges(table: ReportTable, width: int) -> list[int]:
    edges, edge = [], 0.0
    for c in tlf.fitted_chars(table, width / CHAR_TWIPS):
        edge += c * CHAR_TWIPS
        edges.append(round(edge))
    return edges


def table_rtf(table: ReportTable, width: int) -> str:
    """The table: spanner row, heading row (both repeated on each page), body rows."""
    edges = _edges(table, width)
    spans = tlf.spanners(table)
    out = []
    if spans:
        cells = [(rtf_text(s.label), edges[s.last], "\\qc") for s in spans]
        out.append(_row(cells, heading=True, rule_below=False))
    heads = [  # headings aligned like the column below them
        (rtf_text(c), edges[i], "\\qr" if tlf.is_numeric_column(table, i) else "\\ql")
        for i, c in enumerate(table.columns)
    ]
    out.append(_row(heads, heading=True, rule_below=True))
    padded = [tlf.decimal_padded(table, i) for i in range(len(table.columns))]
    for r, row in enumerate(table.rows or [["None."] + [""] * (len(table.columns) - 1)]):
        cells = []
        for i, text in enumerate(row):
            if tlf.is_numeric_column(table, i) and table.rows:
                cells.append((rtf_text(padded[i][r]), edges[i], "\\qr"))
            else:
                cells.append((rtf_text(text), edges[i], "\\ql"))
        out.append(_row(cells, heading=False, rule_below=False))
    return "".join(out)


def _left(texts: tuple[str, ...], edges: list[int]) -> list[tuple[str, int, str]]:
    """Left-aligned cells of plain text ending at `edges`."""
    return [(rtf_text(t), e, "\\ql") for t, e in zip(texts, edges, strict=True)]


def _toc_field(layout: ReportLayout) -> str:
    """The TOC field; its cached result says how to fill in the page numbers and lists the
    headings until Word or LibreOffice updates it."""
    entries = [tlf.TOC_UPDATE_NOTE, ESTIMANDS_HEADING] + [e.label for e in layout.estimands]
    for number, title, outputs in tlf.sections(layout.outputs):
        entries.append(f"{number} {title}")
        entries += [f"{o.label} {o.title}" for o in outputs]
    cached = "".join(f"\\pard\\plain\\fs18 {rtf_text(e)}\\par\n" for e in entries)
    return f'{{\\field{{\\*\\fldinst TOC \\\\o "1-3" \\\\h }}{{\\fldrslt {cached}}}}}\n'


def _contents(layout: ReportLayout) -> str:
    width = A4_SHORT - 2 * MARGIN
    edges = [round(width * 0.22), round(width * 0.75), width]
    out = [_paragraph("Table of contents", bold=True, size=24), _toc_field(layout)]
    out.append("\\pard\\plain\\page\\par\n")
    out.append(_paragraph("List of tables, listings and figures", bold=True, size=24))
    names = ("Number", "Title", "Population")
    out.append(_row(_left(names, edges), heading=True, rule_below=True))
    for o in layout.outputs:
        out.append(
            _row(_left((o.label, o.title, o.population), edges), heading=False, rule_below=False)
        )
    return "".join(out)


def _estimands(found: list[Estimand]) -> str:
    width = A4_SHORT - 2 * MARGIN
    edges = [round(width * 0.25), width]
    out = [_heading(1, ESTIMANDS_HEADING)]
    for e in found:
        out.append(_heading(2, e.label))
        rows = [("Treatment", e.treatment), ("Population", e.population), ("Variable", e.variable)]
        rows += [
            ("Intercurrent event", f"{ie.event}: {ie.strategy} strategy; {ie.handling}")
            for ie in e.intercurrent_events
        ]
        rows.append(("Population-level summary", e.summary_measure))
        for name, text in rows:
            out.append(_row(_left((name, text), edges), heading=False, rule_below=True))
    return "".join(out)


def _output(output: tlf.Output, layout: ReportLayout, opens: str | None) -> str:
    wide = output.table is not None and tlf.is_wide(output.table)
    width = (A4_LONG if wide else A4_SHORT) - 2 * MARGIN
    out = ["\\sect", _section(wide, output.label, output.population, layout)]
    if opens:
        out.append(_heading(1, opens))
    out.append(_heading(2, output.label, output.title))
    out.append(_paragraph(f"Population: {output.population}", size=18))
    if output.table is not None:
        out.append(table_rtf(output.table, width))
        notes = [output.table.note] if output.table.note else []
        for note in [*notes, f"Source: ADSL, ADEFF, ADAE; data cut {layout.data_cut}."]:
            out.append(_paragraph(note, size=14))
    elif output.figure is not None:
        out.append(picture_rtf(output.figure, width))
        out.append(_paragraph(output.figure.caption, size=14))
    return "".join(out)


def picture_rtf(figure: ReportFigure, width: int) -> str:
    """The figure as an embedded PNG (`\\pict\\pngblip`, hex), scaled to the text width."""
    png = figure.png_bytes
    inches_w, inches_h = (float(x) for x in figure.figure.get_size_inches())
    goal_w = min(width, round(inches_w * 1440))
    goal_h = round(goal_w * inches_h / inches_w)
    data = png.hex()
    lines = "\n".join(data[i : i + 128] for i in range(0, len(data), 128))
    return (
        f"\\pard\\plain\\qc{{\\pict\\pngblip\\picw{round(inches_w * 2540)}"
        f"\\pich{round(inches_h * 2540)}\\picwgoal{goal_w}\\pichgoal{goal_h}\n{lines}}}\\par\n"
    )


def write_rtf(layout: ReportLayout, path: Path) -> Path:
    """Write the TLF document to `path` (ASCII) and return it."""
    parts = [HEADER, _section(False, "Contents", "", layout)]
    parts.append(_paragraph(layout.title, bold=True, size=28))
    parts.append(_paragraph(layout.study))
    if layout.stamp:
        parts.append(_paragraph(layout.stamp, bold=True, red=True))
    parts.append(_contents(layout))
    parts.append(_estimands(layout.estimands))
    opening = {outputs[0].label: f"{n} {t}" for n, t, outputs in tlf.sections(layout.outputs)}
    parts += [_output(o, layout, opening.get(o.label)) for o in layout.outputs]
    parts.append("}\n")
    path.write_text("".join(parts), encoding="ascii")
    return path
