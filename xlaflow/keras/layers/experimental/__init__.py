"""xf.keras.layers.experimental: TF 2.3-2.5's home of the preprocessing layers, kept as in
TF 2.x so `layers.experimental.preprocessing.Rescaling` still imports."""

from xlaflow.keras.layers.experimental import preprocessing  # noqa: F401
