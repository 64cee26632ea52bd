"""Analysis: source frames -> ADaM-like datasets -> statistics -> figures -> report.

Pure: works on pandas DataFrames (`SourceFrames`) and never touches the database; the adapter
`trialdesk.analysis.from_store` builds the frames from the study database.
"""

from trialdesk.analysis.datasets import AnalysisDatasets, derive_datasets
from trialdesk.analysis.errors import AnalysisError, SourceFrameError
from trialdesk.analysis.results import StudyResults, analyse
from trialdesk.analysis.sources import FRAME_COLUMNS, SourceFrames, empty_frame

__all__ = [
    "FRAME_COLUMNS",
    "AnalysisDatasets",
    "AnalysisError",
    "SourceFrameError",
    "SourceFrames",
    "StudyResults",
    "analyse",
    "derive_datasets",
    "empty_frame",
]
