"""NumPy as a benchmarked framework (CPU only, eager only)."""
