"""trialdesk: a clinical trial run end to end, from the protocol as code to the results."""

__version__ = "0.1.0"
