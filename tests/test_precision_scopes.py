"""The bf16 scope each family discloses (``ModelFamily.bf16_scopes``, printed beside the bf16 cells)
is what each framework really runs: the dtypes of the forward operations of a tiny bf16 train step,
read from TensorFlow's traced graph and from PyTorch's dispatched ops (tests/precision_scope_probe.py)."""

from __future__ import annotations

import pytest
from precision_scope_probe import tensorflow_scopes, torch_scopes

from models.ddpm.spec import DDPM_TINY
from models.registry import families, family_of

# Every built-in model, at a tiny size (the U-Net at width 16: the same graph, cheaper).
MODELS = {"dcgan-mnist": None, "dcgan-64": None, "vae-mnist": None, "ddpm-32": DDPM_TINY}
READERS = {"tensorflow": tensorflow_scopes, "torch": torch_scopes}


def _dtype(dtypes: set[str]) -> str:
    assert len(dtypes) == 1, f"one kind of operation in several dtypes: {sorted(dtypes)}"
    return next(iter(dtypes))


@pytest.mark.parametrize("framework", list(READERS))
@pytest.mark.parametrize("model", list(MODELS))
def test_disclosed_bf16_scope_matches_the_dtypes_really_used(model: str, framework: str) -> None:
    pytest.importorskip(framework)
    disclosed = family_of(model).bf16_scopes[framework]
    measured = READERS[framework](model, MODELS[model])
    assert measured, "no operation recorded"
    assert set(measured) <= set(disclosed), f"not disclosed: {sorted(set(measured) - set(disclosed))}"
    assert {kind: _dtype(d) for kind, d in measured.items()} == {k: disclosed[k] for k in measured}


def test_every_family_discloses_both_frameworks_with_the_same_kinds() -> None:
    for family in families():
        scopes = family.bf16_scopes
        assert set(scopes) == set(family.implementations), family.name
        kinds = [set(s) for s in scopes.values()]
        assert all(k == kinds[0] for k in kinds), family.name
        assert all(d in ("bf16", "fp32") for s in scopes.values() for d in s.values())
