"""Batch scoring engines beyond one process: Spark."""
