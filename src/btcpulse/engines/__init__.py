"""Engines consume the bus, call the shared analytics and write results: embedded loop, Spark."""
