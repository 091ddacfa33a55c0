"""The only gRPC-aware server code: servicers, converters, error interceptor, lifecycle."""
