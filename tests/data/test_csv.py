"""tf.data.experimental.CsvDataset and make_csv_dataset against TF's documented parsing:
defaults and required columns, na_value, quotes, headers, column selection, compression,
type inference, and the pipeline make_csv_dataset builds (shuffle, epochs, batches)."""

import collections
import gzip
import zlib

import numpy as np
import pytest

import xlaflow as xf

csv_data = xf.data.experimental


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_csv_dataset_defaults_required_columns_quotes_and_na_value(tmp_path):
    path = _write(tmp_path / "a.csv", 'id,score,name\n1,2.5,"Smith, J"\n2,,ann\n3,NA,""\n')
    ds = csv_data.CsvDataset(path, [np.int32, 0.5, "?"], header=True, na_value="NA")
    rows = list(ds)
    assert [tuple(r) for r in rows] == [(1, 2.5, "Smith, J"), (2, 0.5, "ann"), (3, 0.5, "?")]
    assert [r.dtype for r in rows[0]] == [np.int32, np.float32, np.dtype("<U8")]
    assert [s.dtype for s in ds.element_spec[:2]] == [np.int32, np.float32]
    assert int(ds.cardinality()) == xf.data.UNKNOWN_CARDINALITY

    missing = _write(tmp_path / "b.csv", "1,2\n,3\n")
    with pytest.raises(xf.errors.InvalidArgumentError, match="line 2 .*field 0 is required"):
        list(csv_data.CsvDataset(missing, [xf.int32, xf.int64]))
    # without quote handling a quote is an ordinary character
    quoted = _write(tmp_path / "c.csv", '"x",1\n')
    assert next(iter(csv_data.CsvDataset(quoted, ["", 0], use_quote_delim=False)))[0] == '"x"'


def test_csv_dataset_select_exclude_delimiter_and_compression(tmp_path):
    text = "1;2;3;4\n5;6;7;8\n"
    plain = _write(tmp_path / "p.csv", text)
    with gzip.open(tmp_path / "g.csv.gz", "wt") as f:
        f.write(text)
    (tmp_path / "z.csv.z").write_bytes(zlib.compress(text.encode()))
    for path, compression in ((plain, None), (str(tmp_path / "g.csv.gz"), "GZIP"),
                              (str(tmp_path / "z.csv.z"), "ZLIB")):
        picked = csv_data.CsvDataset(path, [0.0, 0], field_delim=";", select_cols=[1, 3],
                                     compression_type=compression)
        assert [tuple(map(float, r)) for r in picked] == [(2.0, 4.0), (6.0, 8.0)]
    dropped = csv_data.CsvDataset([plain, plain], [0, 0], field_delim=";",
                                  exclude_cols=[0, 2])
    assert [tuple(map(int, r)) for r in dropped] == [(2, 4), (6, 8)] * 2
    with pytest.raises(ValueError, match="select_cols"):
        csv_data.CsvDataset(plain, [0], select_cols=[0, 1])
    with pytest.raises(ValueError, match="increasing order"):
        csv_data.CsvDataset(plain, [0, 0], select_cols=[2, 1])
    with pytest.raises(ValueError, match="compression_type"):
        csv_data.CsvDataset(plain, [0], compression_type="BZIP2")
    with pytest.raises(TypeError, match=r"record_defaults\[0\].*bool"):
        csv_data.CsvDataset(plain, [True])
    nope = csv_data.CsvDataset(str(tmp_path / "nope.csv"), [0])  # TF opens lazily
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        list(nope)


def test_csv_dataset_bad_records_fail_and_ignore_errors_skips_only_them(tmp_path):
    path = _write(tmp_path / "bad.csv", "1,2\nx,3\n4\n5,99999999999\n6,7\n")
    ds = csv_data.CsvDataset(path, [0, 0])
    with pytest.raises(xf.errors.InvalidArgumentError,
                       match=r"line 2 of .*bad.csv: field 0 is not a valid int32: 'x'"):
        list(ds)
    # the short record, and the int32 overflow, are errors of their records too
    assert [tuple(map(int, r)) for r in ds.ignore_errors()] == [(1, 2), (6, 7)]


def test_make_csv_dataset_reads_names_infers_types_and_splits_the_label(tmp_path):
    path = _write(tmp_path / "t.csv", "a,big,x,word,y\n"
                  "1,3000000000,0.5,cat,0\n2,1,,dog,1\n3,2,1e39,,0\n")
    ds = csv_data.make_csv_dataset(path, batch_size=2, label_name="y", num_epochs=1,
                                   shuffle=False)
    batches = list(ds)
    features, label = batches[0]
    assert isinstance(features, collections.OrderedDict)
    assert list(features) == ["a", "big", "x", "word"]
    # the narrowest type that holds every value: 1e39 overflows float32
    assert [features[k].dtype.str[1:] for k in features] == ["i4", "i8", "f8", "U3"]
    np.testing.assert_array_equal(label, [0, 1])
    np.testing.assert_array_equal(features["x"], [0.5, 0.0])  # a missing value reads as 0
    last_features, last_label = batches[1]
    assert last_features["word"].tolist() == [""] and last_label.tolist() == [0]

    picked = csv_data.make_csv_dataset(path, 3, select_columns=["y", "a"], num_epochs=1,
                                       shuffle=False, column_defaults=[0, 0])
    (only,) = list(picked)
    assert list(only) == ["a", "y"] and only["a"].tolist() == [1, 2, 3]


def test_make_csv_dataset_epochs_shuffle_and_full_batches_when_repeating(tmp_path):
    for part, scale in ((0, 1), (1, 10)):
        _write(tmp_path / f"part{part}.csv",
               "v,c\n" + "".join(f"{scale * i},{i % 2}\n" for i in range(10)))
    pattern = str(tmp_path / "part*.csv")
    one = list(csv_data.make_csv_dataset(pattern, 4, label_name="c", num_epochs=1,
                                         shuffle_seed=3))
    values = np.concatenate([f["v"] for f, _ in one])
    assert [len(c) for _, c in one] == [4, 4, 4, 4, 4]
    assert sorted(values.tolist()) == sorted(list(range(10)) + [10 * i for i in range(10)])
    assert values.tolist() != sorted(values.tolist())
    forever = csv_data.make_csv_dataset(pattern, 3, label_name="c", shuffle=False)
    batches = list(forever.take(8))  # 20 rows a pass: batches run on across epochs
    assert all(len(c) == 3 for _, c in batches)
    firsts = np.concatenate([f["v"] for f, _ in batches])
    assert firsts[:10].tolist() == list(range(10)) and firsts[20:24].tolist() == [0, 1, 2, 3]


def test_make_csv_dataset_refuses_bad_arguments_by_name(tmp_path):
    path = _write(tmp_path / "d.csv", "a,a,b\n1,2,3\n")
    with pytest.raises(ValueError, match=r"repeats the column names \['a'\]"):
        csv_data.make_csv_dataset(path, 1)
    with pytest.raises(ValueError, match="label_name.*'z'"):
        csv_data.make_csv_dataset(path, 1, column_names=["a", "b", "c"], label_name="z")
    with pytest.raises(ValueError, match="column_names.*header"):
        csv_data.make_csv_dataset(path, 1, header=False)
    with pytest.raises(ValueError, match="no files match"):
        csv_data.make_csv_dataset(str(tmp_path / "*.tsv"), 1)
    with pytest.raises(ValueError, match="column_defaults.*2 entries for 3"):
        csv_data.make_csv_dataset(path, 1, column_names=["a", "b", "c"],
                                  column_defaults=[0, 0])
