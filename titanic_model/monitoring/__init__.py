"""Monitoring: drift against the training data, live quality from labels, the report."""
