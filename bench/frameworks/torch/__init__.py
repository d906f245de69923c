"""PyTorch. Only ``backend``, ``probe`` and ``roofline`` import torch (lazily loaded)."""
