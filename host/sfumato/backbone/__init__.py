"""The job backbone: API replicas and engine workers over a Redis-protocol server."""
