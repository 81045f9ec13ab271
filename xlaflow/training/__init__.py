"""The Trainer behind compile/fit/evaluate/predict: compiled steps, loops, data, progress."""
