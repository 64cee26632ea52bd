"""The TLFs as a Word document (python-docx; Office Open XML, ECMA-376 [@ECMA-376]), for editing.

Same content as the HTML/PDF report: a table of contents, the estimands of the statistical
analysis plan, then each table, listing and figure in its own section (portrait, or landscape
when too wide) whose page head names the study, the output number and the simulated-data
stamp, and whose foot gives the population, the data cut and "Page x of y". Heading rows
repeat on every page a table continues on; numbers are right-aligned and padded after
the number with figure spaces, so the decimal points line up (`tlf.decimal_padded`).
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.section import Section
from docx.shared import Length, Mm, Pt, RGBColor
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from trialdesk.analysis.report import tlf
from trialdesk.analysis.report.estimands import Estimand
from trialdesk.analysis.report.layout import ReportLayout
from trialdesk.analysis.tables import ReportTable

A4_SHORT, A4_LONG = Mm(210), Mm(297)
MARGIN = Mm(18)
BODY_PT = 8
CHAR_PT = 4.8  # mean width of one character of 8 pt Arial, for column widths
STAMP_RED = RGBColor(0xB0, 0x00, 0x20)
EMU_PER_POINT = 12700  # English Metric Units (ECMA-376 Part 1, 20.1.2.1)
ESTIMANDS_HEADING = "Statistical analysis plan: estimands (ICH E9(R1))"
CELL_MARGIN_PT = 5.4  # Word's default left and right cell margin (0.08 inch)


def _length(value: Length | None) -> int:
    return int(value) if value is not None else int(A4_SHORT)


def _field(paragraph: Paragraph, instruction: str) -> None:
    """A Word field (PAGE, NUMPAGES) that Word and LibreOffice compute when they lay out."""
    run = paragraph.add_run()
    simple = OxmlElement("w:fldSimple")
    simple.set(qn("w:instr"), instruction)
    text = OxmlElement("w:r")
    t = OxmlElement("w:t")
    t.text = "1"
    text.append(t)
    simple.append(text)
    run._r.addnext(simple)


def _head_and_foot(section: Section, layout: ReportLayout, label: str, population: str) -> None:
    section.header.is_linked_to_previous = False
    section.footer.is_linked_to_previous = False
    right = (_length(section.page_width) - 2 * MARGIN) / EMU_PER_POINT
    head = section.header.paragraphs[0]
    head.text = ""
    _right_tab(head, right)
    head.add_run(f"{layout.study}\t").font.size = Pt(7)
    head.add_run(label).bold = True
    if layout.stamp:
        _stamp_line(section.header.add_paragraph(), layout.stamp)
    foot = section.footer.paragraphs[0]
    foot.text = ""
    _right_tab(foot, right)
    where = f"Population: {population} · " if population else ""
    foot.add_run(f"{where}Data cut {layout.data_cut}\tPage ").font.size = Pt(7)
    _field(foot, "PAGE")
    foot.add_run(" of ")
    _field(foot, "NUMPAGES")
    if layout.stamp:
        _stamp_line(section.footer.add_paragraph(), layout.stamp)


def _right_tab(paragraph: Paragraph, at_pt: float) -> None:
    """Only a right tab at the text's right edge (the Header/Footer styles' own stops sit
    at 3.25 and 6.5 inches, wrong for A4 and landscape pages)."""
    stops = paragraph.paragraph_format.tab_stops
    stops.add_tab_stop(Pt(3.25 * 72), WD_TAB_ALIGNMENT.CLEAR)
    stops.add_tab_stop(Pt(6.5 * 72), WD_TAB_ALIGNMENT.CLEAR)
    stops.add_tab_stop(Pt(at_pt), WD_TAB_ALIGNMENT.RIGHT)


def _stamp_line(paragraph: Paragraph, stamp: str) -> None:
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = paragraph.add_run(stamp)
    run.bold, run.font.size, run.font.color.rgb = True, Pt(7), STAMP_RED


def _new_section(doc: DocxDocument, landscape: bool) -> Section:
    section: Section = doc.add_section(WD_SECTION.NEW_PAGE)
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (
        (A4_LONG, A4_SHORT) if landscape else (A4_SHORT, A4_LONG)
    )
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, MARGIN)
    return section


def _repeat_heading(row_element: object) -> None:
    """Mark a row as a heading row, repeated at the top of each page (w:tblHeader)."""
    properties = row_element.get_or_add_trPr()  # type: ignore[attr-defined]
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    properties.append(flag)


def _set_cell(cell: _Cell, text: str, *, bold: bool = False, right: bool = False) -> None:
    paragraph = cell.paragraphs[0]
    paragraph.paragraph_format.space_after = Pt(0)
    if right:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    run = paragraph.add_run(text)
    run.bold, run.font.size = bold, Pt(BODY_PT)


def _column_points(table: ReportTable, width_pt: float) -> list[float]:
    return [c * CHAR_PT for c in tlf.fitted_chars(table, width_pt / CHAR_PT)]


def _share_width(grid: Table, shares: tuple[float, ...]) -> None:
    """Columns of a portrait-page table as shares of the text width (fixed layout)."""
    usable = (int(A4_SHORT) - 2 * int(MARGIN)) / EMU_PER_POINT
    widths = [usable * share for share in shares]
    _fixed_layout(grid, widths)
    for row in grid.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = Pt(width)


def _fixed_layout(grid: Table, widths: list[float]) -> None:
    """Fixed column widths (w:tblLayout fixed, w:tblGrid): Word and LibreOffice then keep the
    widths instead of spreading the columns evenly (ECMA-376 Part 1, 17.4.53, 17.4.49)."""
    grid.autofit = False
    properties = grid._tbl.tblPr
    layout = OxmlElement("w:tblLayout")
    layout.set(qn("w:type"), "fixed")
    properties.append(layout)
    for column, width in zip(grid._tbl.tblGrid.findall(qn("w:gridCol")), widths, strict=True):
        column.set(qn("w:w"), str(round(width * 20)))


def _heading_rows(grid: Table, table: ReportTable) -> int:
    spans = tlf.spanners(table)
    first = 0
    if spans:
        row = grid.rows[0]
        for span in spans:
            cell = (
                row.cells[span.first].merge(row.cells[span.last])
                if span.width > 1
                else (row.cells[span.first])
            )
            _set_cell(cell, span.label, bold=True)
        _repeat_heading(row._tr)
        first = 1
    for i, name in enumerate(table.columns):
        _set_cell(grid.rows[first].cells[i], name, bold=True, right=tlf.is_numeric_column(table, i))
    _repeat_heading(grid.rows[first]._tr)
    return first + 1


def add_table(doc: DocxDocument, table: ReportTable, width_pt: float) -> Table:
    """The table with its heading rows (spanners merged), numbers right-aligned and padded so
    their decimal points line up (`tlf.decimal_padded`)."""
    heads = 2 if tlf.spanners(table) else 1
    body = table.rows or [["None."] + [""] * (len(table.columns) - 1)]
    grid: Table = doc.add_table(rows=heads + len(body), cols=len(table.columns))
    grid.style = "Table Grid"
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths = _column_points(table, width_pt)
    _fixed_layout(grid, widths)
    for row in grid.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = Pt(width)
    start = _heading_rows(grid, table)
    columns = [tlf.decimal_padded(table, c) for c in range(len(table.columns))]
    for r, cells in enumerate(body):
        for c, text in enumerate(cells):
            numeric = tlf.is_numeric_column(table, c) and bool(table.rows)
            shown = columns[c][r] if numeric else text
            _set_cell(grid.rows[start + r].cells[c], shown, right=numeric)
    return grid


def _title_block(doc: DocxDocument, output: tlf.Output) -> None:
    """Number and title as one Heading 2 (a line break between them), so the table of
    contents lists both."""
    heading = doc.add_heading(level=2)
    heading.add_run(output.label).add_break()
    heading.add_run(output.title)
    heading.paragraph_format.space_after = Pt(0)
    doc.add_paragraph(f"Population: {output.population}")


def _add_output(
    doc: DocxDocument, output: tlf.Output, layout: ReportLayout, opens: str | None
) -> None:
    wide = output.table is not None and tlf.is_wide(output.table)
    section = _new_section(doc, wide)
    _head_and_foot(section, layout, output.label, output.population)
    if opens:
        doc.add_heading(opens, level=1)
    _title_block(doc, output)
    usable = (_length(section.page_width) - 2 * MARGIN) / EMU_PER_POINT
    if output.table is not None:
        add_table(doc, output.table, usable)
        notes = [output.table.note] if output.table.note else []
        for note in [*notes, f"Source: ADSL, ADEFF, ADAE; data cut {layout.data_cut}."]:
            doc.add_paragraph(note).runs[0].font.size = Pt(7)
    elif output.figure is not None:
        png = BytesIO(output.figure.png_bytes)
        doc.add_picture(png, width=Pt(usable))
        doc.add_paragraph(output.figure.caption).runs[0].font.size = Pt(7)


def _run_with(paragraph: Paragraph, *elements: BaseOxmlElement) -> None:
    run = paragraph.add_run()
    for element in elements:
        run._r.append(element)


def _fld_char(kind: str) -> BaseOxmlElement:
    element = OxmlElement("w:fldChar")
    element.set(qn("w:fldCharType"), kind)
    if kind == "begin":
        element.set(qn("w:dirty"), "true")  # recompute on open (ECMA-376 Part 1, 17.16.18)
    return element


def _add_toc_field(doc: DocxDocument, entries: list[str]) -> None:
    """A real table of contents: the complex field TOC \\o "1-3" \\h over the Heading 1–3
    paragraphs (ECMA-376 Part 1, 17.16.5.68). Its cached result, shown until the field is
    updated, says how to fill in the page numbers and lists the headings: Word recomputes
    the field on opening (w:updateFields in the settings); LibreOffice keeps the cached result
    until asked (Tools > Update > Update All) and then numbers every entry by the page its
    heading is laid out on (tests/analysis/test_analysis_tlf.py)."""
    first = doc.add_paragraph()
    instruction = OxmlElement("w:instrText")
    instruction.set(qn("xml:space"), "preserve")
    instruction.text = ' TOC \\o "1-3" \\h \\z \\u '
    _run_with(first, _fld_char("begin"))
    _run_with(first, instruction)
    _run_with(first, _fld_char("separate"))
    first.add_run(entries[0] if entries else "")
    last = first
    for entry in entries[1:]:
        last = doc.add_paragraph(entry)
    _run_with(last, _fld_char("end"))
    update = OxmlElement("w:updateFields")
    update.set(qn("w:val"), "true")
    doc.settings.element.append(update)


def _toc_entries(layout: ReportLayout) -> list[str]:
    entries = [tlf.TOC_UPDATE_NOTE, ESTIMANDS_HEADING] + [e.label for e in layout.estimands]
    for number, title, outputs in tlf.sections(layout.outputs):
        entries.append(f"{number} {title}")
        entries += [f"{o.label} {o.title}" for o in outputs]
    return entries


def _add_contents(doc: DocxDocument, layout: ReportLayout) -> None:
    contents = doc.add_paragraph()
    run = contents.add_run("Table of contents")
    run.bold, run.font.size = True, Pt(14)
    _add_toc_field(doc, _toc_entries(layout))
    outputs = layout.outputs
    listed = doc.add_paragraph()
    listed.paragraph_format.page_break_before = True
    run = listed.add_run("List of tables, listings and figures")
    run.bold, run.font.size = True, Pt(14)
    grid = doc.add_table(rows=1, cols=3)
    grid.style = "Table Grid"
    for cell, name in zip(grid.rows[0].cells, ("Number", "Title", "Population"), strict=True):
        _set_cell(cell, name, bold=True)
    _repeat_heading(grid.rows[0]._tr)
    for o in outputs:
        cells = grid.add_row().cells
        for cell, text in zip(cells, (o.label, o.title, o.population), strict=True):
            _set_cell(cell, text)
    _share_width(grid, (0.2, 0.55, 0.25))


def _add_estimands(doc: DocxDocument, found: list[Estimand]) -> None:
    doc.add_heading(ESTIMANDS_HEADING, level=1)
    for e in found:
        doc.add_heading(e.label, level=2)
        rows = [("Treatment", e.treatment), ("Population", e.population), ("Variable", e.variable)]
        rows += [
            ("Intercurrent event", f"{ie.event}: {ie.strategy} strategy; {ie.handling}")
            for ie in e.intercurrent_events
        ]
        rows.append(("Population-level summary", e.summary_measure))
        grid = doc.add_table(rows=0, cols=2)
        grid.style = "Table Grid"
        for name, text in rows:
            cells = grid.add_row().cells
            _set_cell(cells[0], name, bold=True)
            _set_cell(cells[1], text)
        _share_width(grid, (0.25, 0.75))


def write_docx(layout: ReportLayout, path: Path) -> Path:
    """Write the TLF document to `path` and return it."""
    doc = Document()
    doc.styles["Normal"].font.name = "Arial"
    doc.styles["Normal"].font.size = Pt(9)
    doc.core_properties.title = layout.title
    first = doc.sections[0]
    first.page_width, first.page_height = A4_SHORT, A4_LONG
    _head_and_foot(first, layout, "Contents", "")
    doc.add_heading(layout.title, level=0)
    doc.add_paragraph(layout.study)
    if layout.stamp:
        run = doc.add_paragraph().add_run(layout.stamp)
        run.bold, run.font.color.rgb = True, STAMP_RED
    _add_contents(doc, layout)
    _add_estimands(doc, layout.estimands)
    opening = {outputs[0].label: f"{n} {t}" for n, t, outputs in tlf.sections(layout.outputs)}
    for output in layout.outputs:
        _add_output(doc, output, layout, opening.get(output.label))
    doc.save(str(path))
    return path
