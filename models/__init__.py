"""Equivalent DCGANs in TensorFlow (Keras 3) and PyTorch.

``models.spec`` and ``models.data`` need neither framework; ``models.tf_dcgan`` imports TensorFlow
and ``models.torch_dcgan`` imports PyTorch. Nothing here times, logs or writes files.
"""
