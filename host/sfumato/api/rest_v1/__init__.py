"""The Stability REST v1 dialect (``/v1/...``): routes, request and response shapes, errors.

Each generation route builds the wire Request a gRPC client would send and runs it
through :meth:`sfumato.api.services.Services.accept`, like the proto3-JSON routes.
The app registers :class:`sfumato.api.rest_v1.routes.RestV1Controller`; the API-key
and rate-limit middleware answer ``/v1/`` paths with :func:`sfumato.api.rest_v1.errors.error_body`.
"""
