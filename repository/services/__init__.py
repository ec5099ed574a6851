"""Domain operations. They take plain values and frozen dataclasses, never a request."""
