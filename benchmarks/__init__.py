"""Benchmarks for Tàng Thư; see benchmarks/README.md."""
