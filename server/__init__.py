"""prioscore server: profiles, the numpy engine, storage and the gRPC transport."""
