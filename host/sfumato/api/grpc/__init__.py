"""The binary dialects: native gRPC on its own port and gRPC-web on the HTTP port.

Both call the same methods (:mod:`sfumato.api.grpc.methods`), which go through the
same job core as the JSON routes. Importing this package does not import grpc;
its modules do, so only a server with gRPC enabled loads it.
"""
