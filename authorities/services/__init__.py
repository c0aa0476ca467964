"""Writes of the authorities app, one function per use case."""
