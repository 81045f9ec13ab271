"""What image_, text_ and audio_dataset_from_directory share (Keras 2's dataset_utils): checking
the arguments, listing a directory's files with their labels, the seeded training /
validation split, and the labels' encodings."""

from __future__ import annotations

import numbers
import os

import numpy as np

LABEL_MODES = ("int", "categorical", "binary", None)
SUBSETS = ("training", "validation", "both", None)


def _refuse(caller, name, expected, value):
    raise ValueError(f"{caller}: `{name}` must be {expected}, received {name}={value!r}")


def check_flag(caller, name, value):
    if not isinstance(value, (bool, np.bool_)):
        _refuse(caller, name, "True or False", value)
    return bool(value)


def check_optional_positive_int(caller, name, value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)
                              or value <= 0):
        _refuse(caller, name, "a positive integer or None", value)
    return None if value is None else int(value)


def check_common(caller, directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                 validation_split, subset, follow_links):
    """Keras 2's argument rules, checked before any file is read. Returns the labels and
    label_mode to use (either being None makes both None: a dataset of inputs only), the
    batch size and the seed (one drawn when None, which orders the files)."""
    if not isinstance(directory, (str, os.PathLike)):
        _refuse(caller, "directory", "a path (str or os.PathLike)", directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{caller}: `directory` must be an existing directory, "
                                f"received directory={os.fspath(directory)!r}")
    if not (labels is None or (isinstance(labels, str) and labels == "inferred")):
        if isinstance(labels, np.ndarray) and labels.ndim == 1:
            labels = labels.tolist()
        if not isinstance(labels, (list, tuple)) or not all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in labels):
            _refuse(caller, "labels", '"inferred", None, or a list/tuple of integer labels '
                    "(one per file, in the sorted order of the file paths)", labels)
        if class_names is not None:
            raise ValueError(f"{caller}: `class_names` can only be given with "
                             f"labels='inferred' (explicit labels name their own classes, "
                             f"sorted); received labels={labels!r}, class_names={class_names!r}")
        labels = [int(v) for v in labels]
    if label_mode not in LABEL_MODES:
        _refuse(caller, "label_mode", 'one of "int", "categorical", "binary" or None',
                label_mode)
    if labels is None and class_names is not None:
        raise ValueError(f"{caller}: `class_names` cannot be given with labels=None (no "
                         f"labels); received class_names={class_names!r}")
    if class_names is not None and (
            not isinstance(class_names, (list, tuple))
            or not all(isinstance(c, str) for c in class_names)
            or len(set(class_names)) != len(class_names)):
        _refuse(caller, "class_names", "a list/tuple of distinct subdirectory names",
                class_names)
    batch_size = check_optional_positive_int(caller, "batch_size", batch_size)
    shuffle = check_flag(caller, "shuffle", shuffle)
    check_flag(caller, "follow_links", follow_links)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or (shuffle and not 0 <= seed < 2 ** 32)):
        # shuffling seeds NumPy's RandomState with it, which takes [0, 2**32) only
        _refuse(caller, "seed", "an integer in [0, 2**32) or None", seed)
    if validation_split is not None and (
            isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real)
            or (validation_split and not 0 < validation_split < 1)):
        _refuse(caller, "validation_split", "a float between 0 and 1 (exclusive) or None",
                validation_split)
    if subset not in SUBSETS:
        _refuse(caller, "subset", '"training", "validation", "both" or None', subset)
    if bool(validation_split) != (subset is not None):
        raise ValueError(f"{caller}: `subset` and `validation_split` go together (give both "
                         f"or neither); received validation_split={validation_split!r}, "
                         f"subset={subset!r}")
    if validation_split and shuffle and seed is None:
        raise ValueError(f"{caller}: with `validation_split` and shuffle=True, give a `seed`, "
                         "so that the training and validation subsets do not overlap (each "
                         "call shuffles the file list with it); received seed=None")
    if labels is None or label_mode is None:
        labels = label_mode = None
    if seed is None:
        seed = np.random.randint(1_000_000)
    return labels, label_mode, batch_size, int(seed)


def _valid_files(directory, formats, follow_links):
    """(root, name) of the files under `directory` with an allowed extension: roots in
    sorted order, names sorted within each, as Keras 2 walks them."""
    walk = sorted(os.walk(directory, followlinks=follow_links), key=lambda entry: entry[0])
    for root, _, names in walk:
        for name in sorted(names):
            if name.lower().endswith(formats):
                yield root, name


def index_directory(caller, directory, labels, formats, class_names, shuffle, seed,
                    follow_links, label_mode=None):
    """(file_paths, labels, class_names) as Keras 2 lists them, and its printed count.

    labels="inferred": each subdirectory is a class, its files at any depth its examples;
    a class's id is its index in `class_names` (sorted names when None), but the files are
    listed by sorted subdirectory either way, as Keras 2 lists them, so that the seeded
    split does not depend on `class_names`. Otherwise the files under `directory` at any
    depth, in sorted path order, matched with `labels` (a list) or none.
    With `shuffle`, paths and labels are permuted together by RandomState(seed).
    label_mode="binary" needs exactly two classes, checked once they are known."""
    directory = os.fspath(directory)
    if labels == "inferred":
        subdirs = [name for name in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, name)) and not name.startswith(".")]
        if class_names is not None and set(class_names) != set(subdirs):
            raise ValueError(f"{caller}: `class_names` must name the subdirectories of "
                             f"{directory!r}, which are {subdirs}; received "
                             f"class_names={list(class_names)!r}")
        class_names = list(subdirs if class_names is None else class_names)
    else:
        subdirs = class_names = [""]  # from the directory itself down
    class_ids = {name: index for index, name in enumerate(class_names)}
    paths, label_ids = [], []
    for subdir in subdirs:
        top = os.path.join(directory, subdir)
        for root, name in _valid_files(top, formats, follow_links):
            paths.append(os.path.join(directory, subdir,
                                      os.path.relpath(os.path.join(root, name), top)))
            label_ids.append(class_ids[subdir])
    if labels == "inferred":
        labels = np.asarray(label_ids, dtype=np.int32)
        print(f"Found {len(paths)} files belonging to {len(class_names)} classes.")
    elif labels is None:
        class_names = None
        print(f"Found {len(paths)} files.")
    else:
        if len(labels) != len(paths):
            raise ValueError(f"{caller}: `labels` must have one label per file; found "
                             f"{len(paths)} files in {directory!r}, received "
                             f"len(labels)={len(labels)}")
        labels, class_names = np.asarray(labels, dtype=np.int32), sorted(set(labels))
        print(f"Found {len(paths)} files belonging to {len(class_names)} classes.")
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f'{caller}: label_mode="binary" needs exactly 2 classes, found '
                         f"class_names={class_names!r}")
    if shuffle:
        # Keras 2 shuffles the path list and the label array each with a fresh
        # RandomState(seed): one permutation of both.
        order = np.arange(len(paths))
        np.random.RandomState(seed).shuffle(order)
        paths = [paths[i] for i in order]
        labels = None if labels is None else labels[order]
    return paths, labels, class_names


def split(paths, labels, validation_split, subset):
    """Keras 2's split of the (already shuffled) list: validation is the last
    int(validation_split * n) files, training the rest; prints how many it uses.

    Where that count is 0 Keras 2 slices `[:-0]` and trains on nothing; here training keeps
    every file and the validation subset is empty."""
    if not validation_split:
        return paths, labels
    n_val = int(validation_split * len(paths))
    cut = len(paths) - n_val
    if subset == "training":
        print(f"Using {cut} files for training.")
        return paths[:cut], None if labels is None else labels[:cut]
    print(f"Using {n_val} files for validation.")
    return paths[cut:], None if labels is None else labels[cut:]


def encode_labels(labels, label_mode, num_classes):
    """int32 ids ("int"), one-hot float32 rows ("categorical"; an id outside
    [0, num_classes) gives a row of zeros, as tf.one_hot), or float32 (n, 1) ("binary")."""
    if label_mode == "int":
        return labels.astype(np.int32)
    if label_mode == "binary":
        return labels.astype(np.float32).reshape(-1, 1)
    return (labels[:, None] == np.arange(num_classes)[None, :]).astype(np.float32)


def finish(dataset, batch_size, shuffle, seed, padded=False):
    """Keras 2's last steps: shuffle locally each epoch (after the global file shuffle),
    batch (`padded`: each component zero-padded to the batch's longest), and read ahead."""
    from xlaflow.data import AUTOTUNE
    if batch_size is not None:
        if shuffle:
            dataset = dataset.shuffle(buffer_size=batch_size * 8, seed=seed)
        dataset = dataset.padded_batch(batch_size) if padded else dataset.batch(batch_size)
    elif shuffle:
        dataset = dataset.shuffle(buffer_size=1024, seed=seed)
    return dataset.prefetch(AUTOTUNE)


def build(caller, what, formats, directory, paths, labels, class_names, label_mode,
          validation_split, subset, batch_size, shuffle, seed, load, padded=False):
    """The dataset of the subset asked for ([training, validation] for subset="both"):
    `load(path)` mapped over its files on the pipeline's threads, zipped with its encoded
    labels, shuffled, batched (padded_batch when `padded`: inputs of differing lengths);
    with `class_names` and `file_paths` attributes, as Keras'.

    An empty subset is an error naming the directory and the formats."""
    from xlaflow.data import AUTOTUNE, Dataset
    names = ("training", "validation") if subset == "both" else (subset,)
    datasets = []
    for name in names:
        part_paths, part_labels = split(paths, labels, validation_split, name)
        if not part_paths:
            kind = f"{name} {what}" if subset == "both" else what
            raise ValueError(f"{caller}: no {kind} found in directory "
                             f"{os.fspath(directory)!r}; allowed formats: {formats}")
        dataset = Dataset.from_tensor_slices(np.asarray(part_paths, dtype=str)).map(
            load, num_parallel_calls=AUTOTUNE)
        if label_mode is not None:
            encoded = encode_labels(part_labels, label_mode, len(class_names))
            dataset = Dataset.zip((dataset, Dataset.from_tensor_slices(encoded)))
        # subset="both": Keras shuffles the training set's batches each epoch, not the
        # validation set's (a single subset is shuffled either way)
        dataset = finish(dataset, batch_size, shuffle and name != "validation"
                         if subset == "both" else shuffle, seed, padded)
        dataset.class_names = class_names
        dataset.file_paths = part_paths
        datasets.append(dataset)
    return datasets if subset == "both" else datasets[0]
