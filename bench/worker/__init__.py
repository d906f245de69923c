"""The child process: one process slot of one cell measured in a fresh interpreter."""
