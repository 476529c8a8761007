"""The I/O shell: data URIs, MLflow runs, the registry and Label Studio's API."""
