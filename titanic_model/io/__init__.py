"""The I/O shell: data URIs, MLflow runs and the registry."""
