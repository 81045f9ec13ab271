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
    when there are no sample weights, or `sample_weight` when there is no mask; for the
    metrics (a weighted mean: each masked step counts zero, in the sum and the count).

    Per-example weights (batch,) against a (batch, time) mask gain a time axis; a weight
    of one more axis of size 1 loses it (Keras' squeeze_or_expand_dimensions)."""
    return _times_mask(mask_weight(y_pred), sample_weight)


def valid_mask_weight(values, y_pred, sample_weight, reduction):
    """The sample weights a Loss of `reduction` weighs its per-step `values` by, for the
    output `y_pred` (Keras 2's Loss.__call__ with losses_utils.apply_valid_mask): the
    mask of `y_pred` times `sample_weight`; for 'sum_over_batch_size' the mask is scaled
    by (its size / its kept steps) first, so the loss, a sum divided by every value, comes
    out as the weighted sum over the kept steps divided by their number.

    Newer tf.keras (in tf-keras and in keras before Keras 3, added early 2023): TF 2.11
    and before divided by every step, masked ones included. Where Keras divides by zero
    (every step masked: NaN), the weights here are 0, and so is the loss. A mask weighs
    only values it lines up with: (batch, time) values, or values with more axes after
    those; a mask with more steps than the values (a loss that reduced over time) is an
    error, as in Keras, except one scalar value, which Keras broadcasts over the weights."""
    mask = mask_weight(y_pred)
    if mask is None:
        return sample_weight
    shape = tuple(jnp.shape(values))
    # a scalar (a custom Loss.call that reduced already) broadcasts over the weights, as in
    # Keras' compute_weighted_loss: 'sum_over_batch_size' then gives the scalar back
    if shape and (mask.ndim > len(shape) or tuple(mask.shape) != shape[:mask.ndim]):
        raise ValueError(
            f"y_pred carries a mask of shape {tuple(mask.shape)} that does not line up with "
            f"the loss values of shape {shape}: a masked loss must keep the masked axes "
            "(one value per step); reduce over the steps after the loss, or drop the mask "
            "before it")
    if reduction == "sum_over_batch_size":
        kept = jnp.sum(mask)
        mask = mask * jnp.where(kept > 0, mask.size / jnp.maximum(kept, 1.0), 0.0)
    return _times_mask(mask, sample_weight)


def _times_mask(mask, sample_weight):
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


def masks_of(y_pred):
    """The masks of the outputs' leaves (None where none): to carry them through a
    transformation (value_and_grad's aux) that returns new arrays."""
    return [keras_mask.get_mask(x) for x in jax.tree_util.tree_leaves(y_pred)]


def with_masks(y_pred, masks):
    """`y_pred` with `masks` (from masks_of) attached again."""
    for x, mask in zip(jax.tree_util.tree_leaves(y_pred), masks):
        keras_mask.set_mask(x, mask)
    return y_pred
