"""Real-time vote monitoring: HTTP front -> gRPC server -> Kafka -> consumer -> Redis and MongoDB."""
