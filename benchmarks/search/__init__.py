"""Search latency benchmark; see benchmarks/README.md."""
