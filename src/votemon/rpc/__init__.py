"""Generated gRPC code for proto/votes/v1 (regenerate with `make proto`, never edit by hand)."""
