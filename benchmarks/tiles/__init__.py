"""Tile throughput and memory benchmarks: our image server beside IIPImage."""
