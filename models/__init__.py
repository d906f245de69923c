"""Model families, one package each (``models/<family>/``), behind ``models.registry``.

``models.family`` defines what a family offers the harness (specs, named losses, inputs, FLOPs, one
implementation module per framework); ``models.data`` holds the image helpers and ``models.common`` the
layers, weight layouts, parity arithmetic and per-framework pieces that families share. Only a family's
per-framework modules (and the ``tf_*``/``torch_*`` modules of ``models.common`` they import) import a
framework, and nothing here imports ``bench``.
"""
