from __future__ import annotations

from bench.frameworks.descriptor import FrameworkDescriptor, Mode, Variant

DESCRIPTOR = FrameworkDescriptor(
    name="numpy",
    label="NumPy",
    colour="#4dabcf",
    package="fakeplug.numpyfw",
    modes=(Mode("eager"),),
    variants=(Variant("default"),),
    import_names=("numpy",),
)
