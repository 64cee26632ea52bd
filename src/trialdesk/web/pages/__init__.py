"""The web pages, one module per area; `trialdesk.web.app` assembles their routers."""
