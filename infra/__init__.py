"""Dev broker, topic creation, docker-compose, benchmarks."""
