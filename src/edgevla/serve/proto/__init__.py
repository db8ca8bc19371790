"""Generated protobuf/gRPC code for the edgevla wire; regenerate with `tools/gen_proto.sh`."""
