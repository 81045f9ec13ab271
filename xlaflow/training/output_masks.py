"""Keras 2's loss and metric masking: the mask a model output carries (from
Embedding(mask_zero=True) or Masking through return_sequences layers) weighs each step."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from xlaflow.layers import keras_mask


def mask_weight(y_pred):
    """The mask of the output `y_pred` as float32 weights (1 keeps a step), or None."""
    mask = keras_mask.get_mask(y_pred)
    return None if mask is None else jnp.asarray(mask, jnp.float32)


def apply_mask(y_pred, sample_weight):
    """Keras 2's `apply_mask`: `sample_weight` times the mask of `y_pred`, the mask alone
    when there are no sample weights, or `sample_weight` when there is no mask.

    Per-example weights (batch,) against a (batch, time) mask gain a time axis; a weight
    of one more axis of size 1 loses it (Keras' squeeze_or_expand_dimensions). A masked
    step then counts zero in the sum, and the 'sum_over_batch_size' reduction still
    divides by every step, as Keras 2 does."""
    mask = mask_weight(y_pred)
    if mask is None:
        return sample_weight
    if sample_weight is None:
        return mask
    weight = jnp.asarray(sample_weight, jnp.float32)
    if weight.ndim == mask.ndim + 1 and weight.shape[-1] == 1:
        weight = jnp.squeeze(weight, -1)
    elif weight.ndim == mask.ndim - 1:
        weight = weight[..., None]
    return weight * mask


def keep_mask(old, new):
    """`new` (a cast of the output `old`) carries `old`'s mask."""
    if new is not old:
        keras_mask.set_mask(new, keras_mask.get_mask(old))
    return new


def masks_of(y_pred):
    """The masks of the outputs' leaves (None where none): to carry them through a
    transformation (value_and_grad's aux) that returns new arrays."""
    return [keras_mask.get_mask(x) for x in jax.tree_util.tree_leaves(y_pred)]


def with_masks(y_pred, masks):
    """`y_pred` with `masks` (from masks_of) attached again."""
    for x, mask in zip(jax.tree_util.tree_leaves(y_pred), masks):
        keras_mask.set_mask(x, mask)
    return y_pred
