"""The gooseai .proto files and the Python modules generated from them (by grpcio-tools;
never edited by hand: ``python -m tests.grpc_api.codegen`` rewrites them).

The ``*_pb2`` modules need only protobuf; the ``*_pb2_grpc`` stubs import grpc.
"""
