"""Tables, listings and figures as a statistician receives them: PDF, RTF and DOCX read back.

The PDF is read per page by poppler (pdftotext, pdfinfo), the DOCX by python-docx, the RTF by
striprtf plus its control words; the numbers are checked against results.json, which the
registry module computes separately from the report tables.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.text import WD_ALIGN_PARAGRAPH
from striprtf.striprtf import rtf_to_text

from trialdesk.analysis.report import ReportFiles
from trialdesk.analysis.report.html import css_string, render_html
from trialdesk.analysis.report.pdf import write_pdf
from trialdesk.analysis.report.rtf_out import rtf_text
from trialdesk.analysis.report.tlf import (
    FIGURE_SPACE,
    TOC_UPDATE_NOTE,
    number_outputs,
    spanners,
    split_decimal,
)
from trialdesk.analysis.tables import ReportTable, all_tables
from trialdesk.protocol import Protocol

SAP_NUMBER = re.compile(r"^(Table|Figure) 14\.[123]\.\d+(\.\d+)?$|^Listing 16\.2\.\d+(\.\d+)?$")


@pytest.fixture(scope="module")
def files(simulated_report: ReportFiles) -> ReportFiles:
    return simulated_report


@pytest.fixture(scope="module")
def docx(files: ReportFiles) -> DocxDocument:
    return Document(str(files.docx))


def _poppler(tool: str, *args: str) -> str:
    found = shutil.which(tool)
    assert found, f"{tool} missing: apt-get install -y poppler-utils (see .ci/run)"
    return subprocess.run([found, *args], check=True, capture_output=True, text=True).stdout


def pdf_pages(path: Path) -> list[str]:
    text = _poppler("pdftotext", "-layout", str(path), "-")
    return [page for page in text.split("\f") if page.strip()]


def page_sizes(path: Path) -> list[tuple[float, float]]:
    """(width, height) in points of each page (pdfinfo)."""
    info = _poppler("pdfinfo", "-f", "1", "-l", "9999", str(path))
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info)
    return [(float(w), float(h)) for w, h in sizes]


def output_page(pages: list[str], title: str) -> int:
    """Index of the page that prints the output titled `title` (not the contents page)."""
    return next(i for i, p in enumerate(pages) if title in p and "Source: analysis" in p)


def paired_results(files: ReportFiles) -> dict[str, dict[str, Any]]:
    """results.json: parameter name -> its paired t-test analysis at the primary visit."""
    doc = json.loads(files.json.read_text("utf-8"))
    found = {}
    for measure in doc["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"]:
        title = measure["title"]
        for analysis in measure.get("analyses", []):
            if title.startswith("Change from baseline in ") and "t-test" in analysis.get(
                "statisticalMethod", ""
            ):
                found[title.removeprefix("Change from baseline in ")] = analysis
    assert found, "results.json has no paired analysis"
    return found


# --- numbering ------------------------------------------------------------------------------


def test_outputs_are_numbered_as_in_a_statistical_analysis_plan(files: ReportFiles) -> None:
    from trialdesk.analysis.report.figures_set import draw_figures

    tables = all_tables(files.results)
    outputs = number_outputs(tables, draw_figures(files.results))
    labels = [o.label for o in outputs]
    assert all(SAP_NUMBER.match(label) for label in labels), labels
    assert len(set(labels)) == len(labels), "two outputs share a number"
    by_key = {o.table.key: o.label for o in outputs if o.table is not None}
    assert by_key["baseline"].startswith("Table 14.1.")
    assert by_key["primary"] == "Table 14.2.1"
    assert by_key["ae_overview"].startswith("Table 14.3.1")
    assert by_key["sae_listing"].startswith("Listing 16.2.7")
    assert sum(1 for k in by_key if k.startswith("visits_")) == len(files.results.outcomes)


def test_a_table_added_later_gets_a_number_without_edits(files: ReportFiles) -> None:
    extra = ReportTable("ogld_new_summary", "A new efficacy table", ["A", "B"], [["x", "1.0"]])
    outputs = number_outputs([*all_tables(files.results), extra], {})
    placed = next(o for o in outputs if o.table is extra)
    assert placed.label.startswith("Table 14.2.") and placed.population == "Intention-to-treat set"


def test_decimal_split_and_spanners() -> None:
    assert split_decimal("-0.63 [-0.90, -0.35]") == ("-0", ".63 [-0.90, -0.35]")
    assert split_decimal("10/12 (83.3%)") == ("10", "/12 (83.3%)")
    assert split_decimal("<0.001") == ("<0", ".001")
    assert split_decimal("–") == ("–", "")
    table = ReportTable(
        "primary",
        "t",
        ["Parameter", "n pairs", "Baseline mean", "Month 12 mean", "Mean change [95% CI]",
         "p (paired t)", "p (Wilcoxon)", "MMRM: change [95% CI]", "p (MMRM)"],
        [],
    )  # fmt: skip
    spans = spanners(table)
    assert sum(s.width for s in spans) == len(table.columns)
    assert [(s.first, s.last) for s in spans if s.label] == [(2, 3), (4, 6), (7, 8)]
    renamed = ReportTable("primary", "t", ["Parameter", "Estimate"], [])
    assert spanners(renamed) == []  # columns not found: the table prints without spanners


# --- PDF --------------------------------------------------------------------------------------


def test_pdf_pages_carry_study_number_population_cut_and_page_x_of_y(files: ReportFiles) -> None:
    pages = pdf_pages(files.pdf)
    total = len(pages)
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {total}" in page, number
        assert "SIMULATED DATA" in page and "NCT01142050" in page, number
        assert "Data cut" in page, number
    primary = pages[output_page(pages, "Primary outcomes: change from baseline")]
    assert primary.count("Table 14.2.1") >= 2  # the title and the running head
    assert "Population: Intention-to-treat set" in primary
    safety = pages[output_page(pages, "Adverse events: overview")]
    assert "Population: Safety set" in safety


def test_pdf_is_portrait_where_tables_fit_and_landscape_where_not(files: ReportFiles) -> None:
    pages, sizes = pdf_pages(files.pdf), page_sizes(files.pdf)
    assert len(pages) == len(sizes)

    def size_of(title: str) -> tuple[float, float]:
        return sizes[output_page(pages, title)]

    width, height = size_of("Exogenous insulin at Month")
    assert width < height  # two columns: portrait
    width, height = size_of("Primary outcomes: change from baseline")
    assert width > height  # nine columns: landscape


def test_pdf_table_has_spanners_and_decimal_aligned_numbers(files: ReportFiles) -> None:
    pages = pdf_pages(files.pdf)
    page = pages[output_page(pages, "Primary outcomes: change from baseline")]
    assert "Paired analysis" in page and "Mixed model for repeated" in page  # may wrap
    # Footnotes under the table: the methods, the covariance each MMRM used, the source.
    assert "Covariance across visits:" in page and "Kenward–Roger" in page
    assert "Source: analysis datasets ADSL, ADEFF, ADAE; data cut" in " ".join(page.split())
    html = files.html.read_text("utf-8")
    assert 'colspan="3" class="span">Paired analysis' in html
    assert re.search(r'<td class="num"><span class="dl w\d+">-?\d+</span>\.\d', html)


_NUMBER_WORD = re.compile(r"^-?\d+\.\d+$")
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # the report's font
#: Columns of the primary table lie further apart than this (points); a number's decimal
#: point may move by a digit's width (about 5 pt) when misaligned.
_COLUMN_GAP = 20.0


def _decimal_points(pdf: Path, page: int) -> list[tuple[float, float]]:
    """(centre, x of the decimal point) of each plain number (``-12.34``) on `page` (0-based),
    the decimal point placed by the font's advance widths scaled to the word's box."""
    from fontTools.ttLib import TTFont

    assert _DEJAVU.is_file(), "fonts-dejavu-core missing (.ci/run)"
    font = TTFont(str(_DEJAVU))
    cmap, metrics = font.getBestCmap(), font["hmtx"].metrics

    def advance(text: str) -> float:
        return float(sum(metrics[cmap[ord(c)]][0] for c in text))

    box = _poppler("pdftotext", "-bbox", "-f", str(page + 1), "-l", str(page + 1), str(pdf), "-")
    words = re.findall(
        r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>', box
    )
    out = []
    for low, high, text in words:
        if _NUMBER_WORD.match(text):
            x0, x1 = float(low), float(high)
            scale = (x1 - x0) / advance(text)
            out.append(((x0 + x1) / 2, x0 + scale * advance(text.split(".")[0])))
    return out


def test_pdf_numbers_line_up_on_the_decimal_point(files: ReportFiles) -> None:
    """In the printed primary table, the decimal points of each column's numbers sit at one x
    whatever the number of digits before or after them (1.929 over 52.6 over 14.60)."""
    pages = pdf_pages(files.pdf)
    points = sorted(_decimal_points(files.pdf, output_page(pages, "Primary outcomes: change")))
    columns: list[list[float]] = [[]]
    last_centre = points[0][0]
    for centre, point in points:
        if centre - last_centre > _COLUMN_GAP:
            columns.append([])
        columns[-1].append(point)
        last_centre = centre
    spread = [max(c) - min(c) for c in columns if len(c) > 1]
    assert len(spread) >= 4
    assert max(spread) < 0.5, spread


def test_long_listing_flows_over_pages_with_its_headings(
    files: ReportFiles, tmp_path: Path
) -> None:
    rows = [[f"S{i:03d}", "Month 3", f"{i / 7:.2f}", "Unscheduled check"] for i in range(160)]
    listing = ReportTable(
        "ae_listing_long", "A long listing", ["Participant", "Visit", "Value", "Reason"], rows,
        numeric=[False, False, True, False],
    )  # fmt: skip
    html = render_html(files.results, {}, [listing], stamp="SIMULATED DATA (test)")
    pdf = write_pdf(html, tmp_path / "long.pdf", title="long")
    pages = [p for p in pdf_pages(pdf) if "Unscheduled check" in p]
    assert len(pages) >= 3
    for page in pages:  # heading row repeated; running head names the listing
        assert "Participant" in page and "Reason" in page
        assert "Listing 16.2.7" in page and "SIMULATED DATA (test)" in page
        assert "Population: Safety set" in page
    assert "S159" in pages[-1] and "22.71" in pages[-1]


# --- DOCX -------------------------------------------------------------------------------------


def _contents_rows(doc: DocxDocument) -> list[list[str]]:
    return [[c.text.strip() for c in row.cells] for row in doc.tables[0].rows[1:]]


def test_docx_has_contents_numbered_outputs_and_simulated_heads(
    docx: DocxDocument, files: ReportFiles
) -> None:
    contents = _contents_rows(docx)
    assert len(contents) >= 20 and all(SAP_NUMBER.match(row[0]) for row in contents)
    firsts = [p.text.split("\n")[0] for p in docx.paragraphs
              if p.style is not None and p.style.name == "Heading 2"]  # fmt: skip
    headings = [h for h in firsts if SAP_NUMBER.match(h)]
    assert headings == [row[0] for row in contents]  # every output under its number
    assert len(docx.sections) == len(contents) + 1
    for section, row in zip(docx.sections[1:], contents, strict=True):
        head = "\n".join(p.text for p in section.header.paragraphs)
        assert "SIMULATED DATA" in head and row[0] in head and "NCT01142050" in head
        foot = section.footer._element.xml
        assert 'w:instr="PAGE"' in foot and 'w:instr="NUMPAGES"' in foot
        assert "Data cut 20" in section.footer.paragraphs[0].text


def _docx_table(doc: DocxDocument, first_heading: str) -> list[list[str]]:
    for table in doc.tables:
        texts = [[c.text.strip() for c in row.cells] for row in table.rows]
        if any(row and row[0] == first_heading for row in texts[:2]) and len(texts[0]) > 5:
            return texts
    raise AssertionError(f"no table headed {first_heading!r}")


def test_docx_numbers_match_results_json(docx: DocxDocument, files: ReportFiles) -> None:
    rows = _docx_table(docx, "Parameter")
    assert rows[0][2] == "Observed means" and rows[0][4].startswith("Paired analysis")
    header = rows[1]
    change, p_t = header.index("Mean change [95% CI]"), header.index("p (paired t)")
    body = {row[0]: row for row in rows[2:]}
    checked = 0
    for param, analysis in paired_results(files).items():
        if analysis["paramValue"] == "NA" or param not in body:
            continue
        low, high = analysis["ciLowerLimit"], analysis["ciUpperLimit"]
        assert body[param][change] == f"{analysis['paramValue']} [{low}, {high}]", param
        if analysis["pValue"] != "NA":
            assert body[param][p_t] == analysis["pValue"], param
        checked += 1
    assert checked >= 8


def test_docx_tables_repeat_headings_and_align_on_decimal_points(docx: DocxDocument) -> None:
    primary = next(
        t for t in docx.tables if len(t.columns) == 9 and t.rows[1].cells[0].text == "Parameter"
    )
    for heading in primary.rows[:2]:  # spanner row and column headings repeat on each page
        assert heading._tr.trPr is not None and "w:tblHeader" in heading._tr.trPr.xml
    assert "w:tblHeader" not in primary.rows[2]._tr.xml
    means = [row.cells[2] for row in primary.rows[2:]]  # baseline means, 0 to 3 decimals
    assert all(c.paragraphs[0].alignment == WD_ALIGN_PARAGRAPH.RIGHT for c in means)
    tails = {len(c.text.rstrip(FIGURE_SPACE).split(".")[-1]) + len(c.text) -
             len(c.text.rstrip(FIGURE_SPACE)) for c in means if "." in c.text}  # fmt: skip
    assert len(tails) == 1  # every mean ends as far after its decimal point: points line up
    assert any(FIGURE_SPACE in c.text for c in means)  # some were padded to get there
    label = primary.rows[2].cells[0].paragraphs[0]
    assert label.alignment is None and FIGURE_SPACE not in label.text  # text stays left


def test_docx_and_html_print_the_estimands(
    docx: DocxDocument, files: ReportFiles, protocol: Protocol
) -> None:
    text = "\n".join(p.text for p in docx.paragraphs)
    cells = " ".join(c.text for t in docx.tables[1:] for row in t.rows for c in row.cells)
    html = files.html.read_text("utf-8")
    outcomes = [*protocol.primary_outcomes, *protocol.secondary_outcomes]
    for kind, outcome in [("Primary", o) for o in protocol.primary_outcomes] + [
        ("Secondary", o) for o in protocol.secondary_outcomes
    ]:
        label = f"{kind} {outcome.number}: {outcome.title}"
        assert label in text and label in html, label
    assert len(outcomes) == 7
    for attribute in ("Population-level summary", "Intercurrent event", "treatment policy",
                      "hypothetical", "composite", "while on treatment"):  # fmt: skip
        assert attribute in cells and attribute in html, attribute
    pdf = "\n".join(pdf_pages(files.pdf))
    assert "Statistical analysis plan: estimands" in pdf and "while on treatment" in pdf


# --- RTF --------------------------------------------------------------------------------------


def test_rtf_reads_back_with_numbers_titles_and_simulated_heads(files: ReportFiles) -> None:
    raw = files.rtf.read_text("ascii")
    assert raw.startswith("{\\rtf1") and raw.rstrip().endswith("}")
    assert raw.count("{") == raw.count("}") + raw.count("\\{") - raw.count("\\}")
    text = rtf_to_text(raw)
    outputs = number_outputs(all_tables(files.results), {})
    for output in outputs:
        assert output.label in text and output.title in text, output.label
    headers = re.findall(r"\{\\header.*?\\par\}", raw)
    assert len(headers) == raw.count("\\sectd") and len(headers) > len(outputs)
    assert all("SIMULATED DATA" in h for h in headers)
    assert raw.count("\\fldinst NUMPAGES") == len(headers)
    assert "\\trhdr" in raw and "\\qr" in raw and "\\lndscpsxn" in raw
    assert "\\pngblip" in raw  # figures embedded
    assert "Statistical analysis plan: estimands" in text


def test_rtf_numbers_match_results_json(files: ReportFiles) -> None:
    text = rtf_to_text(files.rtf.read_text("ascii"))
    checked = 0
    for param, analysis in paired_results(files).items():
        if analysis["paramValue"] == "NA":
            continue
        shown = f"{analysis['paramValue']} [{analysis['ciLowerLimit']}, {analysis['ciUpperLimit']}]"
        primary_rows = [  # the primary table's row: 9 columns (the baseline table has 4)
            ln for ln in text.splitlines() if ln.startswith(param + "|") and ln.count("|") >= 9
        ]
        cells = [cell.strip() for cell in primary_rows[0].split("|")]
        assert cells[4] == shown, (param, cells)
        assert analysis["pValue"] in (cells[5], "NA"), (param, cells)
        checked += 1
    assert checked >= 8


def test_text_is_escaped_for_rtf_and_css() -> None:
    assert rtf_text("a{b}\\c") == "a\\{b\\}\\\\c"
    assert rtf_text("µIU/mL ≥ 7.0 – x") == "\\u181?IU/mL \\u8805? 7.0 \\u8211? x"
    assert rtf_text("😀") == "\\u-10179?\\u-8704?"  # UTF-16 surrogate pair, signed
    rtf_text("plain").encode("ascii")
    escaped = str(css_string('Study "A" \\ </style><script>'))
    assert "</style>" not in escaped and '\\"A\\"' in escaped and "\\\\" in escaped


# --- tables of contents -----------------------------------------------------------------------


def test_docx_has_a_toc_field_that_word_updates_on_open(docx: DocxDocument) -> None:
    """A real TOC field over Heading 1–3 (ECMA-376 Part 1, 17.16.5.68), marked dirty and with
    w:updateFields in the settings, so Word fills in the page numbers on opening."""
    body = docx.element.body.xml
    assert 'TOC \\o "1-3" \\h' in body
    for kind in ("begin", "separate", "end"):
        assert f'w:fldCharType="{kind}"' in body
    settings = docx.settings.element.xml
    assert re.search(r'<w:updateFields w:val="(true|1)"/>', settings)
    styles = {p.style.name for p in docx.paragraphs if p.style is not None}
    assert {"Heading 1", "Heading 2"} <= styles
    level1 = [
        p.text for p in docx.paragraphs if p.style is not None and p.style.name == "Heading 1"
    ]
    assert level1[0].startswith("Statistical analysis plan")
    assert any(t.startswith("14.2 ") for t in level1) and any(t.startswith("14.3 ") for t in level1)
    outputs = [p.text for p in docx.paragraphs if p.style is not None and
               p.style.name == "Heading 2" and p.text.startswith("Table 14.2.1")]  # fmt: skip
    assert outputs == ["Table 14.2.1\nPrimary outcomes: change from baseline to Month 12"]


def test_rtf_has_a_toc_field_over_outline_headings(files: ReportFiles) -> None:
    raw = files.rtf.read_text("ascii")
    assert '{\\field{\\*\\fldinst TOC \\\\o "1-3" \\\\h }{\\fldrslt ' in raw
    assert "\\s1\\outlinelevel0" in raw and "\\s2\\outlinelevel1" in raw
    assert "{\\stylesheet" in raw and "heading 1;" in raw
    outputs = number_outputs(all_tables(files.results), {})
    assert raw.count("\\s2\\outlinelevel1") >= len(outputs)


# --- the documents as LibreOffice lays them out ---------------------------------------------------


def _soffice() -> str:
    found = shutil.which("soffice")
    assert found, "LibreOffice missing: apt-get install -y libreoffice-writer-nogui (.ci/run)"
    return found


def _rendered(path: Path, folder: Path) -> list[str]:
    """`path` converted to PDF by LibreOffice (headless), read back page by page."""
    folder.mkdir(parents=True, exist_ok=True)
    profile = folder / "profile"  # a private profile: parallel conversions do not collide
    subprocess.run(
        [_soffice(), f"-env:UserInstallation=file://{profile}", "--headless",
         "--convert-to", "pdf", "--outdir", str(folder), str(path)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return pdf_pages(folder / f"{path.stem}.pdf")


@pytest.mark.parametrize("kind", ["docx", "rtf"])
def test_libreoffice_renders_tables_without_wrapped_numbers(
    kind: str, files: ReportFiles, tmp_path: Path
) -> None:
    """The primary table, laid out by LibreOffice: every parameter's row prints on one line
    with the numbers of results.json (nothing wrapped or pushed off its cell), the page head
    names the output, the foot says "Page x of y" with y the real page count."""
    pages = _rendered(files.docx if kind == "docx" else files.rtf, tmp_path / kind)
    outputs = number_outputs(all_tables(files.results), {})
    assert len(pages) > len(outputs)
    text = "\n".join(pages)
    assert all(o.label in text for o in outputs)
    title = "Primary outcomes: change from baseline"
    index = next(i for i, p in enumerate(pages) if title in p and "Source: ADSL" in p)
    page = pages[index]
    assert "Table 14.2.1" in page.splitlines()[0] or "Table 14.2.1" in page[:400]
    assert f"Page {index + 1} of {len(pages)}" in page
    checked = 0
    for param, analysis in paired_results(files).items():
        if analysis["paramValue"] == "NA" or len(param) > 40:
            continue
        low, high = analysis["ciLowerLimit"], analysis["ciUpperLimit"]
        shown = f"{analysis['paramValue']} [{low}, {high}]"
        line = next((ln for ln in page.splitlines() if ln.strip().startswith(param)), "")
        assert shown in line, (kind, param, line)
        checked += 1
    assert checked >= 6


# --- the tables of contents, updated by LibreOffice ------------------------------------------

#: A contents line: the heading's text, a dot leader, the page number.
_TOC_LINE = re.compile(r"^\s*(?P<text>\S.*?)\s*\.{3,}\s*(?P<page>\d+)\s*$")
_UNO_PYTHON = "/usr/bin/python3"  # Debian's Python, with LibreOffice's bridge (python3-uno)


def _updated(path: Path, folder: Path) -> list[str]:
    """`path` opened by LibreOffice, its indexes updated (Tools > Update > Update All), exported
    to PDF, read back page by page."""
    folder.mkdir(parents=True, exist_ok=True)
    bridge = subprocess.run(
        [_UNO_PYTHON, "-c", "import uno"], capture_output=True, check=False
    ).returncode  # fmt: skip
    assert bridge == 0, "LibreOffice's Python bridge missing: apt-get install -y python3-uno"
    target = folder / f"{path.stem}.pdf"
    done = subprocess.run(
        [_UNO_PYTHON, str(Path(__file__).with_name("lo_update_indexes.py")), _soffice(),
         str(path), str(target), str(folder / "profile")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) == 1, "LibreOffice found no table of contents"
    return pdf_pages(target)


def _contents_lines(pages: list[str]) -> tuple[dict[str, int], int]:
    """{heading text: page number} from the contents, and the index of its last page."""
    found: dict[str, int] = {}
    last = 0
    for index, page in enumerate(pages[:5]):
        for line in page.splitlines():
            match = _TOC_LINE.match(line)
            if match:
                found[match["text"]] = int(match["page"])
                last = index
    return found, last


def _words(text: str) -> str:
    return " ".join(text.split())


def _output_page(pages: list[str], after: int, label: str, title: str) -> int:
    """1-based number of the page where the output's heading (its number on a line of its own,
    then its title) is printed."""
    for index in range(after + 1, len(pages)):
        lines = [ln.strip() for ln in pages[index].splitlines() if ln.strip()]
        if any(a == label and b == title for a, b in itertools.pairwise(lines)):
            return index + 1
    raise AssertionError(f"{label} {title}: heading not found on any page")


def _heading_page(pages: list[str], after: int, text: str) -> int:
    for index in range(after + 1, len(pages)):
        if any(_words(ln) == text for ln in pages[index].splitlines()) or (
            text in _words(pages[index]) and len(text) > 40
        ):
            return index + 1
    raise AssertionError(f"{text}: heading not found on any page")


@pytest.mark.parametrize("kind", ["docx", "rtf"])
def test_libreoffice_updates_the_contents_with_the_pages_the_outputs_are_on(
    kind: str, files: ReportFiles, tmp_path: Path
) -> None:
    """Before an update the contents say how to get page numbers (LibreOffice keeps a TOC
    field's cached result on opening); once LibreOffice updates the TOC field, every output,
    ICH E3 section and estimand is listed with the page its heading is printed on; every page
    as LibreOffice lays it out carries the simulated-data stamp."""
    source = files.docx if kind == "docx" else files.rtf
    as_written = "\n".join(_rendered(source, tmp_path / "plain"))
    assert _words(TOC_UPDATE_NOTE) in _words(as_written)
    pages = _updated(source, tmp_path / "updated")
    assert all("SIMULATED DATA" in page for page in pages)  # issue 17: on every page
    contents, last = _contents_lines(pages)
    outputs = number_outputs(all_tables(files.results), {})
    assert len(contents) >= len(outputs) + 3
    assert _words(TOC_UPDATE_NOTE) not in _words("\n".join(pages))
    for output in outputs:
        entry = f"{output.label} {output.title}"
        assert entry in contents, f"{entry} missing from the updated contents"
        actual = _output_page(pages, last, output.label, output.title)
        assert contents[entry] == actual, (kind, entry, contents[entry], actual)
    others = [text for text in contents if not text.startswith(("Table ", "Figure ", "Listing "))]
    assert any(text.startswith("14.2 ") for text in others)
    for text in others:
        assert contents[text] == _heading_page(pages, last, text), (kind, text)
