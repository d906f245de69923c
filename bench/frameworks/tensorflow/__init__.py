"""TensorFlow (Keras 3). Only ``backend``, ``probe`` and ``roofline`` import TensorFlow (lazily loaded)."""
