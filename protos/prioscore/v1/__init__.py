"""Generated protobuf and gRPC code for prioscore.v1 (regenerate with `make proto`)."""
