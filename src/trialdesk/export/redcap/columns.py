"""REDCap's data dictionary columns and naming rules.

The 18 columns, in order, as the REDCap UI uploads/downloads them, beside the API `metadata`
keys (REDCap API help "Export Metadata", [@REDCap]). Events are named
`<event>_arm_<n>` ([@REDCap]); checkbox data columns are `field___code`.
"""

from __future__ import annotations

import re

DICTIONARY_HEADER: tuple[str, ...] = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
API_KEYS: tuple[str, ...] = (
    "field_name",
    "form_name",
    "section_header",
    "field_type",
    "field_label",
    "select_choices_or_calculations",
    "field_note",
    "text_validation_type_or_show_slider_number",
    "text_validation_min",
    "text_validation_max",
    "identifier",
    "branching_logic",
    "required_field",
    "custom_alignment",
    "question_number",
    "matrix_group_name",
    "matrix_ranking",
    "field_annotation",
)
FIELD_TYPES = frozenset(
    {
        "text",
        "notes",
        "radio",
        "dropdown",
        "calc",
        "file",
        "checkbox",
        "yesno",
        "truefalse",
        "descriptive",
        "slider",
        "sql",
    }
)
EVENTS_HEADER = (
    "event_name",
    "arm_num",
    "day_offset",
    "offset_min",
    "offset_max",
    "unique_event_name",
    "custom_event_label",
)
INSTRUMENTS_HEADER = ("instrument_name", "instrument_label")
MAPPING_HEADER = ("arm_num", "unique_event_name", "form")
REPEATING_HEADER = ("event_name", "form_name", "custom_form_label")
RECORD_ID = "record_id"
ARM = 1


def unique_event_name(event_code: str, arm: int = ARM) -> str:
    """REDCap's unique event name: the event name lower-cased, non-alphanumerics as `_`,
    then `_arm_<n>` (e.g. visit M12 → `m12_arm_1`)."""
    stem = re.sub(r"[^a-z0-9]+", "_", event_code.lower()).strip("_")[:18]
    return f"{stem}_arm_{arm}"


def checkbox_column(field: str, code: str) -> str:
    """The export column of one checkbox choice: `field___code` (three underscores; a minus sign
    in a code is written as an underscore by REDCap)."""
    return f"{field}___{code.replace('-', '_').lower()}"
