"""Soak (long mixed load) and fault-injection runs against both apps."""
