"""Test harnesses, outside the shipped package (issue #18): isolated migrated databases with
demo users (`database`), and a real server with a real Chromium (`live`). Used by `tests/`,
`benchmarks/` and `tools.screenshots`; `trialdesk` itself never imports them."""
