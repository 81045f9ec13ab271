"""keras.utils.text_dataset_from_directory (Keras 2.11): a directory of .txt files, one
subdirectory per class, as an xf.data.Dataset of strings and their labels.

Elements are NumPy str (what xf.data's TextLineDataset yields and xlaflow's text layers
take); `.numpy()` of one gives UTF-8 bytes, as TF's."""

from __future__ import annotations

import codecs

import numpy as np

from xlaflow.keras.preprocessing import directory_index as index

_CALLER = "text_dataset_from_directory"
_FORMATS = (".txt",)


def _reader(max_length):
    def read(path):
        path = str(path)
        with open(path, "rb") as f:
            # TF's substr(0, max_length) cuts bytes; a character the cut splits is dropped
            # (final=False keeps an incomplete UTF-8 sequence out of the text)
            raw = f.read() if max_length is None else f.read(max_length)
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(
                raw, final=max_length is None or len(raw) < max_length)
        except UnicodeDecodeError as error:
            raise ValueError(f"{_CALLER}: {path!r} is not UTF-8 text: {error}") from error
        return np.str_(text)
    return read


def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size=32, max_length=None, shuffle=True,
                                seed=None, validation_split=None, subset=None,
                                follow_links=False):
    """A Dataset of `(texts, labels)` batches from `directory` (Keras 2.11's function).

    labels="inferred": each subdirectory is a class (sorted names, or `class_names`' order),
    its .txt files at any depth the examples (aclImdb/train's pos/ and neg/); a list gives
    one integer label per file in sorted path order; None yields texts only. label_mode:
    "int" (int32), "categorical" (one-hot float32), "binary" (float32 (batch, 1), two
    classes) or None. `max_length` keeps each file's first max_length bytes, as TF.

    The file list is shuffled with `seed` (drawn when None), then split: the last
    int(validation_split * n) files are the validation subset. subset="both" returns
    [training, validation]. Each dataset has `class_names` and `file_paths`.
    """
    labels, label_mode, batch_size, seed = index.check_common(
        _CALLER, directory, labels, label_mode, class_names, batch_size, shuffle, seed,
        validation_split, subset, follow_links)
    max_length = index.check_optional_positive_int(_CALLER, "max_length", max_length)

    paths, labels, class_names = index.index_directory(
        _CALLER, directory, labels, _FORMATS, class_names, bool(shuffle), seed, follow_links,
        label_mode)
    read = _reader(max_length)

    return index.build(_CALLER, "text files", _FORMATS, directory, paths, labels, class_names,
                       label_mode, validation_split, subset, batch_size, bool(shuffle), seed,
                       read)
