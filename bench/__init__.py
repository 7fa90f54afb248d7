"""The benchmark suite: the service against a raw-asyncpg ceiling on the same machine."""
