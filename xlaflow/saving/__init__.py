"""Saving: model weights (orbax) today; the SavedModel-style export comes with its issue."""
