"""The I/O shell: clients of the services the jobs read from and write to."""
