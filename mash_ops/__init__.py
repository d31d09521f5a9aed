"""Operations tooling: lag exporter, status screen and dead-letter tooling (reads Kafka itself)."""
