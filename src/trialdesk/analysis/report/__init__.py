"""The statistical report: HTML, PDF and registry-format JSON from one `StudyResults`."""

from trialdesk.analysis.report.build import REPORT_STEPS, ReportFiles, ReportOptions, build_report

__all__ = ["REPORT_STEPS", "ReportFiles", "ReportOptions", "build_report"]
