"""tf.data.experimental.CsvDataset and make_csv_dataset: CSV files parsed on the host into
NumPy scalars with TF's rules (record defaults, na_value, quotes, headers, GZIP/ZLIB).

A bad record is an InvalidArgumentError of that element, so `ignore_errors()` drops it and
the file goes on (as in TF). String columns stay NumPy strings: XLA has no string tensors.
"""

from __future__ import annotations

import collections
import csv
import glob
import gzip
import io
import numbers
import os
import zlib

import numpy as np

from xlaflow._string_dtype import StringDType
from xlaflow.data.arguments import integer_argument, positive_argument
from xlaflow.data.dataset import AUTOTUNE, UNKNOWN_CARDINALITY, Dataset
from xlaflow.data.errors import Failed
from xlaflow.data.passes import OnePass
from xlaflow.errors import InvalidArgumentError, NotFoundError
from xlaflow.tensors import TensorSpec

_STRING = np.dtype(str)
_INT32, _INT64 = np.dtype("int32"), np.dtype("int64")
_FLOAT32, _FLOAT64 = np.dtype("float32"), np.dtype("float64")
_TYPES = (_INT32, _INT64, _FLOAT32, _FLOAT64, _STRING)  # TF's order of inference too
_REQUIRED = object()  # a column without a default: a missing value is an error
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _column_type(default, index):
    """`(dtype, default value or _REQUIRED)` for record_defaults[index], as TF reads it:
    a value gives its type and default, a dtype (or an empty array) a required column."""
    where = f"CsvDataset: record_defaults[{index}]"
    if isinstance(default, (bool, np.bool_)):
        raise TypeError(f"{where} must be an int32, int64, float32, float64 or string "
                        f"default or dtype; received the bool {default!r}")
    if isinstance(default, str):
        return _STRING, default
    if isinstance(default, numbers.Integral) and not isinstance(default, np.generic):
        return _INT32, _INT32.type(default)
    if isinstance(default, float):
        return _FLOAT32, _FLOAT32.type(default)
    if default is str or isinstance(default, StringDType):  # str, xf.string ("string")
        return _STRING, _REQUIRED
    if isinstance(default, (type, np.dtype)):
        try:
            dtype = np.dtype(default)
        except TypeError:
            dtype = None
        if dtype is not None and (dtype in _TYPES or dtype.kind == "U"):
            return (_STRING if dtype.kind == "U" else dtype), _REQUIRED
        raise TypeError(f"{where} must be one of int32, int64, float32, float64 or a "
                        f"string type; received {default!r}")
    array = np.asarray(default)
    dtype = _STRING if array.dtype.kind in "US" else array.dtype
    if dtype not in _TYPES:
        raise TypeError(f"{where} must have type int32, int64, float32, float64 or string; "
                        f"received {default!r} of dtype {array.dtype}")
    if array.size == 0:
        return dtype, _REQUIRED
    if array.size != 1:
        raise ValueError(f"{where} must be a scalar default, a one-element array or an "
                         f"empty array (a required column); received shape {array.shape}")
    value = array.reshape(())[()]
    return dtype, (str(value) if dtype is _STRING else dtype.type(value))


def _parse(text, dtype):
    """`text` as a value of `dtype`; ValueError when it is not one (or out of range)."""
    if dtype is _STRING:
        return np.str_(text)
    stripped = text.strip()
    if "_" in stripped:  # Python's int()/float() take "1_000"; TF's parsers do not
        raise ValueError(text)
    if dtype.kind == "i":
        value = int(stripped)
        info = np.iinfo(dtype)
        if not info.min <= value <= info.max:
            raise ValueError(text)
        return dtype.type(value)
    value = float(stripped)
    if dtype == _FLOAT32 and np.isfinite(value) and abs(value) > _FLOAT32_MAX:
        raise ValueError(text)
    return dtype.type(value)


def _open_text(path, compression_type, encoding):
    if compression_type == "GZIP":
        return gzip.open(path, "rt", encoding=encoding, newline="")
    if compression_type == "ZLIB":
        with open(path, "rb") as f:
            return io.StringIO(zlib.decompress(f.read()).decode(encoding), newline="")
    return open(path, encoding=encoding, newline="")  # closed by the caller (a `with`)


def _records(path, field_delim, use_quote_delim, compression_type, encoding):
    """(line number, fields) of each record in the file; a blank line is one empty field,
    as TF reads it."""
    quoting = csv.QUOTE_MINIMAL if use_quote_delim else csv.QUOTE_NONE
    with _open_text(path, compression_type, encoding) as f:
        reader = csv.reader(f, delimiter=field_delim, quotechar='"', quoting=quoting)
        for fields in reader:
            yield reader.line_num, fields or [""]


def _filenames(filenames, what):
    if isinstance(filenames, (str, os.PathLike)):
        names = [os.fspath(filenames)]
    else:
        names = [os.fspath(str(f) if isinstance(f, np.str_) else f)
                 for f in np.asarray(filenames, dtype=object).ravel()]
    if not names:
        raise ValueError(f"{what}: `filenames` is empty")
    return names  # opened lazily: a missing one is an error of the pass (existing), as TF


def existing(name, what):
    """`name`, a file a pass is about to read; TF's NotFoundError naming it if there is none
    (TF's file datasets construct without looking and fail when iterated)."""
    if not os.path.isfile(name):
        raise NotFoundError(None, None, f"{what}: no such file: {name!r}")
    return name


def _compression(compression_type, what):
    value = (compression_type or "").upper()
    if value not in ("", "GZIP", "ZLIB"):
        raise ValueError(f"{what}: `compression_type` must be None, '', 'GZIP' or 'ZLIB'; "
                         f"received {compression_type!r}")
    return value


def _column_indices(cols, name):
    indices = [integer_argument(c, "CsvDataset", name) for c in cols]
    if any(i < 0 for i in indices) or indices != sorted(set(indices)):
        raise ValueError(f"CsvDataset: `{name}` must be non-negative column indices in "
                         f"increasing order without repeats; received {list(cols)}")
    return indices


class CsvDataset(OnePass, Dataset):
    """TF's `tf.data.experimental.CsvDataset`: one tuple of scalars per record, a column per
    entry of `record_defaults` (a default value, or a dtype for a required column)."""

    def __init__(self, filenames, record_defaults, compression_type=None, buffer_size=None,
                 header=False, field_delim=",", use_quote_delim=True, na_value="",
                 select_cols=None, exclude_cols=None, encoding="utf-8"):
        self._files = _filenames(filenames, "CsvDataset")
        columns = [_column_type(d, i) for i, d in enumerate(record_defaults)]
        if not columns:
            raise ValueError("CsvDataset: `record_defaults` must name at least one column")
        if buffer_size is not None:
            positive_argument(buffer_size, "CsvDataset", "buffer_size")
        if not isinstance(field_delim, str) or len(field_delim) != 1:
            raise ValueError(f"CsvDataset: `field_delim` must be one character; received "
                             f"{field_delim!r}")
        if select_cols is not None and exclude_cols is not None:
            raise ValueError("CsvDataset: give `select_cols` or `exclude_cols`, not both")
        self._select = None if select_cols is None else _column_indices(select_cols,
                                                                         "select_cols")
        self._exclude = None if exclude_cols is None else set(
            _column_indices(exclude_cols, "exclude_cols"))
        if self._select is not None and len(self._select) != len(columns):
            raise ValueError(f"CsvDataset: `record_defaults` ({len(columns)} columns) and "
                             f"`select_cols` ({len(self._select)}) must have the same length")
        self._columns = columns
        self._compression = _compression(compression_type, "CsvDataset")
        self._header, self._delim, self._quotes = bool(header), field_delim, use_quote_delim
        self._na, self._encoding = na_value, encoding
        self._spec = tuple(TensorSpec((), dtype) for dtype, _ in columns)

    def _fields(self, fields):
        # the fields of the record's kept columns, in order, or a ValueError saying why not
        if self._select is not None:
            if len(fields) <= self._select[-1]:
                raise ValueError(f"it has {len(fields)} fields; select_cols reads column "
                                 f"{self._select[-1]}")
            return [fields[i] for i in self._select]
        if self._exclude is not None:
            fields = [f for i, f in enumerate(fields) if i not in self._exclude]
        if len(fields) != len(self._columns):
            raise ValueError(f"expected {len(self._columns)} fields but it has {len(fields)}")
        return fields

    def _record(self, fields):
        values = []
        for i, (text, (dtype, default)) in enumerate(zip(self._fields(fields), self._columns)):
            if text == "" or text == self._na:
                if default is _REQUIRED:
                    raise ValueError(f"field {i} is required but missing")
                values.append(np.str_(default) if dtype is _STRING else default)
                continue
            try:
                values.append(_parse(text, dtype))
            except ValueError:
                raise ValueError(f"field {i} is not a valid {dtype.name}: {text!r}") from None
        return tuple(values)

    def _pass(self, tolerant):
        for path in self._files:
            records = _records(existing(path, "CsvDataset"), self._delim, self._quotes,
                               self._compression, self._encoding)
            try:
                for number, (line, fields) in enumerate(records):
                    if number == 0 and self._header:
                        continue
                    try:
                        element = self._record(fields)
                    except ValueError as e:
                        error = InvalidArgumentError(
                            None, None, f"CsvDataset: record at line {line} of {path}: {e}")
                        if not tolerant:
                            raise error from None
                        element = Failed(error)
                    yield element
            finally:
                records.close()

    def _cardinality(self):
        return UNKNOWN_CARDINALITY  # as TF: known only by reading the files


def _infer_type(text, na_value, previous):
    # TF's rule: the narrowest of int32, int64, float32, float64, string that holds every
    # value seen so far; missing values say nothing
    if text in ("", na_value):
        return previous
    for dtype in _TYPES[_TYPES.index(previous or _INT32):]:
        try:
            _parse(text, dtype)
            return dtype
        except ValueError:
            continue
    return _STRING


def _first_records(files, count, header, options):
    seen = 0
    for path in files:
        records = _records(path, *options)
        try:
            for number, (_, fields) in enumerate(records):
                if number == 0 and header:
                    continue
                if seen == count:
                    return
                seen += 1
                yield fields
        finally:
            records.close()


def _select_indices(select_columns, column_names):
    if all(isinstance(c, str) for c in select_columns):
        missing = [c for c in select_columns if c not in column_names]
        if missing:
            raise ValueError(f"make_csv_dataset: `select_columns` names {missing}, which are "
                             f"not among the columns {column_names}")
        indices = [column_names.index(c) for c in select_columns]
    elif all(isinstance(c, numbers.Integral) and not isinstance(c, bool)
             for c in select_columns):
        indices = [int(c) for c in select_columns]
        if any(not 0 <= i < len(column_names) for i in indices):
            raise ValueError(f"make_csv_dataset: `select_columns` {list(select_columns)} "
                             f"must be indices in [0, {len(column_names)})")
    else:
        raise TypeError("make_csv_dataset: `select_columns` must be all column names or all "
                        f"integer indices; received {list(select_columns)}")
    if len(set(indices)) != len(indices):
        raise ValueError(f"make_csv_dataset: `select_columns` has repeats: "
                         f"{list(select_columns)}")
    return sorted(indices)


def make_csv_dataset(file_pattern, batch_size, column_names=None, column_defaults=None,
                     label_name=None, select_columns=None, field_delim=",",
                     use_quote_delim=True, na_value="", header=True, num_epochs=None,
                     shuffle=True, shuffle_buffer_size=10000, shuffle_seed=None,
                     prefetch_buffer_size=None, num_parallel_reads=None, sloppy=False,
                     num_rows_for_inference=100, compression_type=None, ignore_errors=False,
                     encoding="utf-8"):
    """TF's make_csv_dataset: batches of `(OrderedDict of columns, label)` (just the dict
    without `label_name`), column names from the header and types inferred from the first
    `num_rows_for_inference` rows unless given; `num_epochs=None` repeats forever."""
    what = "make_csv_dataset"
    patterns = [file_pattern] if isinstance(file_pattern, (str, os.PathLike)) else \
        list(file_pattern)
    files = sorted({f for p in patterns for f in glob.glob(os.fspath(p))})
    if not files:
        raise ValueError(f"{what}: no files match `file_pattern` {file_pattern!r}")
    batch_size = positive_argument(batch_size, what, "batch_size")
    compression = _compression(compression_type, what)
    options = (field_delim, use_quote_delim, compression, encoding)
    if column_names is None:
        if not header:
            raise ValueError(f"{what}: give `column_names` when `header` is False (there is "
                             "no header row to read them from)")
        column_names = next(_first_records(files[:1], 1, False, options), [])
    column_names = list(column_names)
    repeated = sorted({n for n in column_names if column_names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what}: `column_names` or the CSV header repeats the column "
                         f"names {repeated}")
    selected = None if select_columns is None else _select_indices(select_columns,
                                                                   column_names)
    width = len(column_names) if selected is None else len(selected)
    if column_defaults is None:
        types = [None] * width
        for fields in _first_records(files, num_rows_for_inference, header, options):
            kept = fields if selected is None else [
                fields[i] if i < len(fields) else "" for i in selected]
            types = [_infer_type(text, na_value, t) for text, t in zip(kept, types)]
        # as TF: a column with no value seen is a string; a missing value reads as 0 or ""
        # (`is None`: NumPy's dtype('float64') == None is True)
        column_defaults = ["" if t is None or t == _STRING else np.zeros((1,), t)
                           for t in types]
    elif len(column_defaults) != width:
        raise ValueError(f"{what}: `column_defaults` has {len(column_defaults)} entries "
                         f"for {width} columns")
    if selected is not None:
        column_names = [column_names[i] for i in selected]
    if label_name is not None and label_name not in column_names:
        raise ValueError(f"{what}: `label_name` must be one of the columns {column_names}; "
                         f"received {label_name!r}")

    def filename_to_dataset(filename):
        dataset = CsvDataset(str(filename), column_defaults, compression_type=compression,
                             header=header, field_delim=field_delim,
                             use_quote_delim=use_quote_delim, na_value=na_value,
                             select_cols=selected, encoding=encoding)
        return dataset.ignore_errors() if ignore_errors else dataset

    def map_fn(*columns):
        features = collections.OrderedDict(zip(column_names, columns))
        if label_name is None:
            return features
        label = features.pop(label_name)
        return features, label

    filenames = Dataset.from_tensor_slices(np.array(files))
    if shuffle:
        filenames = filenames.shuffle(len(files), seed=shuffle_seed)
    dataset = filenames.interleave(filename_to_dataset, cycle_length=num_parallel_reads or 1,
                                   deterministic=not sloppy)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer_size, seed=shuffle_seed)
    if num_epochs != 1:
        dataset = dataset.repeat(num_epochs)
    # as TF: repeating forever drops the last partial batch, so every batch is full-sized
    dataset = dataset.batch(batch_size, drop_remainder=num_epochs is None).map(map_fn)
    return dataset.prefetch(AUTOTUNE if prefetch_buffer_size is None else
                            prefetch_buffer_size)
