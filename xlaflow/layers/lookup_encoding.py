"""What Keras 2's lookup layers share (its index_lookup.py): the special tokens a given
vocabulary may start with, the order in which adapt() ranks a vocabulary, the tf-idf
weights, the inverse lookup, and the one-hot/multi-hot/count/tf-idf encodings.

IntegerLookup encodes inside the program (jax.numpy); StringLookup and TextVectorization
encode on the host (NumPy): the same function serves both through its `xp` argument.
sparse=True gives xf.sparse.from_dense of the encoding, eagerly only (`sparse_output`).
"""

from __future__ import annotations

from collections import Counter

import jax.numpy as jnp
import numpy as np

ENCODED_MODES = ("one_hot", "multi_hot", "count", "tf_idf")
MODES = ("int", *ENCODED_MODES)


def check_options(owner, output_mode, num_oov_indices, invert, idf_weights, vocabulary,
                  pad_to_max_tokens, max_tokens, sparse):
    """Keras 2's IndexLookup argument checks, raised by name before the layer has any
    state; returns output_mode with Keras' older spellings ('binary', 'tf-idf') renamed."""
    output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
    if output_mode not in MODES:
        raise ValueError(f"{owner}: output_mode must be one of {MODES}; received "
                         f"{output_mode!r}")
    if isinstance(num_oov_indices, bool) or not isinstance(
            num_oov_indices, (int, np.integer)) or num_oov_indices < 0:
        raise ValueError(f"{owner}: num_oov_indices must be an int >= 0; received "
                         f"num_oov_indices={num_oov_indices!r}")
    if pad_to_max_tokens and max_tokens is None:
        raise ValueError(f"{owner}: pad_to_max_tokens=True needs max_tokens; received "
                         f"max_tokens=None")
    if invert and output_mode != "int":
        raise ValueError(f"{owner}: invert=True needs output_mode='int'; received "
                         f"output_mode={output_mode!r}")
    if idf_weights is not None and output_mode != "tf_idf":
        raise ValueError(f"{owner}: idf_weights needs output_mode='tf_idf'; received "
                         f"output_mode={output_mode!r}")
    if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
        raise ValueError(f"{owner}: with a given vocabulary, output_mode='tf_idf' needs "
                         f"idf_weights too")
    if sparse and output_mode == "int":
        raise ValueError(f"{owner}: sparse=True needs an encoded output_mode (one_hot, "
                         f"multi_hot, count, tf_idf); received output_mode='int'")
    return output_mode


def sparse_output(owner, dense):
    """sparse=True's result: the SparseTensor of the dense encoding (TF's values). Eager
    (or on the host) only: its number of entries depends on the data, which XLA needs."""
    from xlaflow.sparse_ops import from_dense
    from xlaflow.sparse_tensor import traced

    if traced(dense):
        raise NotImplementedError(
            f"{owner}(sparse=True) inside a traced function (xf.function, Model.fit, a "
            "functional model): the SparseTensor's number of entries depends on the data, "
            "which XLA must know when compiling; call the layer eagerly (e.g. in "
            "Dataset.map), or use sparse=False and its dense output inside")
    return from_dense(dense)


def adapt_refused(name):
    """Keras 2's IndexLookup.update_state refusal: a layer constructed with a vocabulary is
    never adapted (set_vocabulary still replaces its vocabulary)."""
    return ValueError(f"Cannot adapt layer {name!r} after setting a static vocabulary via "
                      f"the `vocabulary` argument (Keras 2 refuses it too: cannot adapt a "
                      f"layer constructed with a vocabulary); use set_vocabulary to "
                      f"replace it")


def rank_vocabulary(tokens, counts, limit=None):
    """`tokens` by count, the most frequent first, ties by the larger token (Keras 2 sorts
    with `np.lexsort((tokens, counts))[::-1]`, so its vocabularies are deterministic); at
    most `limit` of them (None: all)."""
    tokens, counts = np.asarray(tokens), np.asarray(counts)
    order = np.lexsort((tokens, counts))[::-1]
    return tokens[order if limit is None else order[:max(limit, 0)]]


def strip_special(tokens, special):
    """A given vocabulary (a list) without its leading special tokens (`special`: the mask
    and OOV tokens in index order), and whether it had them: Keras 2's set_vocabulary takes
    a vocabulary with or without them (get_vocabulary's output round-trips)."""
    found = list(tokens[:len(special)]) == list(special)
    return (list(tokens[len(special):]) if found else list(tokens)), found


def documents(batch):
    """A batch's documents, as Keras 2's adapt() counts them for tf-idf: a scalar or 1-D
    batch is one document, each row of a higher-rank batch one."""
    batch = np.asarray(batch)
    if batch.ndim <= 1:
        return [batch.reshape(-1).tolist()]
    return batch.reshape(batch.shape[0], -1).tolist()


def ragged_documents(rt, batch_size=None, steps=None):
    """adapt()'s documents from a RaggedTensor: each outer row's values, flattened (Keras 2
    batches its rows, each row a document); at most `steps` batches of `batch_size` (32)."""
    from xlaflow.ragged_convert import host_values

    rows = rt.nrows_static
    if steps is not None:
        rows = min(rows, steps * (batch_size or 32))
    starts, limits = np.arange(rows), np.arange(1, rows + 1)
    for splits in rt.nested_row_splits:  # each row's range, level by level down
        host = np.asarray(splits)
        starts, limits = host[starts], host[limits]
    flat = host_values(rt.flat_values)
    flat = flat.reshape(flat.shape[0], -1) if flat.ndim > 1 else flat[:, None]
    if flat.dtype == object:  # text as bytes: the lookup layers count str tokens
        flat = np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(flat)
    return [flat[a:b].reshape(-1).tolist() for a, b in zip(starts, limits)]


def count_tokens(docs, with_documents):
    """(token counts, document counts, number of documents) over an iterable of documents
    (lists of tokens); document counts only `with_documents` (tf-idf)."""
    counts, doc_counts, num_docs = Counter(), Counter(), 0
    for doc in docs:
        counts.update(doc)
        if with_documents:
            doc_counts.update(set(doc))
        num_docs += 1
    return counts, doc_counts, num_docs


def idf_vector(weights, front, length=None):
    """The idf weight of every index, as Keras 2 pads the weights it is given or learns:
    `front` special indices first, at the mean weight (an OOV index has no document count
    of its own), then `weights`, then zeros up to `length` (pad_to_max_tokens)."""
    weights = np.asarray(weights, np.float64)
    back = 0 if length is None else length - front - len(weights)
    return np.concatenate([np.full(front, weights.mean() if weights.size else 0.0),
                           weights, np.zeros(back)]).astype(np.float32)


def invert(ids, vocabulary, default, xp=jnp):
    """Keras 2's inverse lookup: the vocabulary entry (special tokens included) at each id;
    an id outside [0, len(vocabulary)) gives `default` (the OOV token)."""
    ids = xp.asarray(ids)
    inside = (ids >= 0) & (ids < len(vocabulary))
    return xp.where(inside, vocabulary[xp.where(inside, ids, 0)], default)


def inverse_document_frequency(document_counts, num_documents):
    """Keras 2's idf weight of a token found in `document_counts` of `num_documents`
    documents: log(1 + num_documents / (1 + document_count))."""
    return np.log(1.0 + num_documents / (1.0 + np.asarray(document_counts, np.float64)))


def encode(ids, output_mode, depth, idf_weights=None, xp=jnp):
    """Looked-up `ids` as float32 vectors of length `depth` (Keras 2's
    encode_categorical_inputs): one_hot encodes each id (a last axis of size 1 is replaced),
    multi_hot/count/tf_idf the ids of the last axis together (a scalar is one sample).
    An id outside [0, depth) (a dropped mask token, a padding) counts nowhere."""
    if output_mode not in ENCODED_MODES:
        raise ValueError(f"output_mode must be one of {ENCODED_MODES}; received "
                         f"{output_mode!r}")
    x = xp.asarray(ids)
    if output_mode == "one_hot" and not (x.ndim and x.shape[-1] == 1):
        x = x[..., None]
    if x.ndim == 0:
        x = x.reshape(1)
    lead = x.shape[:-1]
    # invalid ids go to an extra column that is cut off: a scatter of counts, not a
    # (..., length, depth) one-hot array, which a long text and a large vocabulary make huge
    x = xp.where((x >= 0) & (x < depth), x, depth).reshape(-1, x.shape[-1])
    rows = xp.arange(x.shape[0])[:, None]
    if xp is np:
        counts = np.zeros((x.shape[0], depth + 1), np.float32)
        np.add.at(counts, (rows, x), 1.0)
    else:
        counts = jnp.zeros((x.shape[0], depth + 1), jnp.float32).at[rows, x].add(1.0)
    counts = counts[:, :depth].reshape(*lead, depth)
    if output_mode in ("one_hot", "multi_hot"):
        return xp.minimum(counts, 1.0)
    if output_mode == "tf_idf":
        return counts * xp.asarray(idf_weights, xp.float32)
    return counts
