"""What the model families share, so that each family keeps only what is its own.

Framework-free (importable anywhere, as the families' framework-free modules are): ``chain`` (a
network as a chain of layers: shapes, TF padding in pixels, parameter shapes, the builder), ``weights``
(initialiser fans, Keras' layouts to torch's and back, the canonical-format check), ``parity`` (relative
errors and Keras' Adam arithmetic for torch). Per framework, loaded only in that framework's process
(from a family's ``tf_*``/``torch_*`` module): ``tf_common`` and ``torch_common`` (dtype policies,
device names, the Adam implementation switch), ``torch_layers`` (torch modules of chain layers).
"""
