"""Model families, one package each (``models/<family>/``), behind ``models.registry``.

``models.family`` defines what a family offers the harness (specs, named losses, inputs, FLOPs, one
implementation module per framework); ``models.data`` holds image helpers that families share. Only
a family's per-framework modules import a framework, and nothing here imports ``bench``.
"""
