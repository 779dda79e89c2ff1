"""Signed completion notices POSTed to a URL the request names (``webhook_url``); see docs/api.md."""
