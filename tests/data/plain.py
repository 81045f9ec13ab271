"""Dataset elements as plain Python values (lists, tuples, dicts), for comparison with
references written by hand."""

import numpy as np


def as_lists(ds):
    """Elements as plain Python values, for comparison with references."""
    def plain(x):
        if isinstance(x, tuple):
            return tuple(plain(v) for v in x)
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        return np.asarray(x).tolist()
    return [plain(e) for e in ds]
