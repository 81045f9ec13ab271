"""The twentieth round of whole TF2 programs (see test_tf2_ports.py): TF's tutorial
"TFRecord and tf.train.Example" as written, on a small synthetic dataset (1,000
observations instead of 10,000) and two small JPEGs made with Pillow in place of the two
downloaded photos. Only the imports change, except where a line says why.

Oracles: the tutorial's printed output where it is deterministic (the printed protos,
the serialized float feature's bytes), else the NumPy arrays the Examples were made from.
"""

import os

import numpy as np
import pytest

import xlaflow as tf


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the tutorial writes its files to the working directory
    np.random.seed(int(os.environ.get("XF_PORT_SEED", "0")))


# The following functions can be used to convert a value to a type compatible
# with tf.train.Example.

def _bytes_feature(value):
    """Returns a bytes_list from a string / byte."""
    if isinstance(value, type(tf.constant(0))):
        value = value.numpy()  # BytesList won't unpack a string from an EagerTensor.
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _float_feature(value):
    """Returns a float_list from a float / double."""
    return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))


def _int64_feature(value):
    """Returns an int64_list from a bool / enum / int / uint."""
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def serialize_example(feature0, feature1, feature2, feature3):
    """
    Creates a tf.train.Example message ready to be written to a file.
    """
    # Create a dictionary mapping the feature name to the tf.train.Example-compatible
    # data type.
    feature = {
        'feature0': _int64_feature(feature0),
        'feature1': _int64_feature(feature1),
        'feature2': _bytes_feature(feature2),
        'feature3': _float_feature(feature3),
    }

    # Create a Features message using tf.train.Example.
    example_proto = tf.train.Example(features=tf.train.Features(feature=feature))
    return example_proto.SerializeToString()


def _observations():
    # The number of observations in the dataset.
    n_observations = int(1e3)  # the tutorial's 1e4, smaller for the test suite

    # Boolean feature, encoded as False or True.
    feature0 = np.random.choice([False, True], n_observations)

    # Integer feature, random from 0 to 4.
    feature1 = np.random.randint(0, 5, n_observations)

    # String feature.
    strings = np.array([b'cat', b'dog', b'chicken', b'horse', b'goat'])
    feature2 = strings[feature1]

    # Float feature, from a standard normal distribution.
    feature3 = np.random.randn(n_observations)
    return n_observations, feature0, feature1, feature2, feature3


def test_data_types_for_tf_train_example(capsys):
    print(_bytes_feature(b'test_string'))
    print(_bytes_feature(b'test_bytes'))  # the tutorial's u'test_bytes'.encode('utf-8') (UP012)

    print(_float_feature(np.exp(1)))

    print(_int64_feature(True))
    print(_int64_feature(1))
    # the tutorial's printed output
    assert capsys.readouterr().out == (
        'bytes_list {\n  value: "test_string"\n}\n\n'
        'bytes_list {\n  value: "test_bytes"\n}\n\n'
        'float_list {\n  value: 2.71828175\n}\n\n'
        'int64_list {\n  value: 1\n}\n\n'
        'int64_list {\n  value: 1\n}\n\n')

    feature = _float_feature(np.exp(1))

    assert feature.SerializeToString() == b'\x12\x06\n\x04T\xf8-@'  # the tutorial's


def test_creating_a_tf_train_example_message():
    # This is an example observation from the dataset.

    example_observation = []  # noqa: F841  (as in the tutorial)

    serialized_example = serialize_example(False, 4, b'goat', 0.9876)
    assert isinstance(serialized_example, bytes)

    example_proto = tf.train.Example.FromString(serialized_example)
    feature = example_proto.features.feature
    assert list(feature['feature0'].int64_list.value) == [0]
    assert list(feature['feature1'].int64_list.value) == [4]
    assert list(feature['feature2'].bytes_list.value) == [b'goat']
    assert np.float32(feature['feature3'].float_list.value[0]) == np.float32(0.9876)
    assert 'value: "goat"' in str(example_proto)


def test_tfrecord_files_using_tf_data(capsys):
    n_observations, feature0, feature1, feature2, feature3 = _observations()

    tf.data.Dataset.from_tensor_slices(feature1)

    features_dataset = tf.data.Dataset.from_tensor_slices((feature0, feature1, feature2,
                                                           feature3))

    # Use `take(1)` to only pull one example from the dataset.
    for f0, f1, f2, f3 in features_dataset.take(1):
        print(f0)
        print(f1)
        print(f2)
        print(f3)
    assert capsys.readouterr().out.split("\n")[:2] == [str(feature0[0]), str(feature1[0])]

    def tf_serialize_example(f0, f1, f2, f3):
        tf_string = tf.py_function(
            serialize_example,
            (f0, f1, f2, f3),  # Pass these args to the above function.
            tf.string)  # The return type is `tf.string`.
        return tf.reshape(tf_string, ())  # The result is a scalar.

    first = tf_serialize_example(f0, f1, f2, f3)
    assert first.numpy() == serialize_example(feature0[0], feature1[0], feature2[0],
                                              feature3[0])

    serialized_features_dataset = features_dataset.map(tf_serialize_example)
    mapped = [s.numpy() for s in serialized_features_dataset]

    def generator():
        for features in features_dataset:
            yield serialize_example(*features)

    serialized_features_dataset = tf.data.Dataset.from_generator(
        generator, output_types=tf.string, output_shapes=())
    assert [s.numpy() for s in serialized_features_dataset] == mapped

    filename = 'test.tfrecord'
    writer = tf.data.experimental.TFRecordWriter(filename)
    writer.write(serialized_features_dataset)

    # Reading a TFRecord file
    filenames = [filename]
    raw_dataset = tf.data.TFRecordDataset(filenames)

    for raw_record in raw_dataset.take(10):
        print(repr(raw_record))
    assert capsys.readouterr().out.count("\\x08feature0") == 10
    assert [r.numpy() for r in raw_dataset] == mapped

    # Create a description of the features.
    feature_description = {
        'feature0': tf.io.FixedLenFeature([], tf.int64, default_value=0),
        'feature1': tf.io.FixedLenFeature([], tf.int64, default_value=0),
        'feature2': tf.io.FixedLenFeature([], tf.string, default_value=''),
        'feature3': tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    }

    def _parse_function(example_proto):
        # Parse the input `tf.train.Example` proto using the dictionary above.
        return tf.io.parse_single_example(example_proto, feature_description)

    parsed_dataset = raw_dataset.map(_parse_function)

    for parsed_record in parsed_dataset.take(10):
        print(repr(parsed_record))
    assert capsys.readouterr().out.count("'feature2'") == 10

    parsed = list(parsed_dataset)
    assert len(parsed) == n_observations
    np.testing.assert_array_equal([p['feature0'].numpy() for p in parsed], feature0)
    np.testing.assert_array_equal([p['feature1'].numpy() for p in parsed], feature1)
    assert [p['feature2'].numpy() for p in parsed] == list(feature2)
    np.testing.assert_array_equal([p['feature3'].numpy() for p in parsed],
                                  feature3.astype(np.float32))
    # a batch parsed at once, as TF's performance advice has it, gives the same values
    batch = next(iter(raw_dataset.batch(64).map(
        lambda s: tf.io.parse_example(s, feature_description))))
    np.testing.assert_array_equal(batch['feature1'], feature1[:64])


def test_tfrecord_files_in_python(capsys):
    n_observations, feature0, feature1, feature2, feature3 = _observations()
    filename = 'test.tfrecord'

    # Write the `tf.train.Example` observations to the file.
    with tf.io.TFRecordWriter(filename) as writer:
        for i in range(n_observations):
            example = serialize_example(feature0[i], feature1[i], feature2[i], feature3[i])
            writer.write(example)

    assert os.path.getsize(filename) > n_observations * 16  # header and footer per record

    filenames = [filename]
    raw_dataset = tf.data.TFRecordDataset(filenames)

    for raw_record in raw_dataset.take(1):
        example = tf.train.Example()
        example.ParseFromString(raw_record.numpy())
        print(example)
    assert 'key: "feature2"' in capsys.readouterr().out

    result = {}
    # example.features.feature is the dictionary
    for key, feature in example.features.feature.items():
        # The values are the Feature objects which contain a `kind` which contains:
        # one of three fields: bytes_list, float_list, int64_list

        kind = feature.WhichOneof('kind')
        result[key] = np.array(getattr(feature, kind).value)

    assert sorted(result) == ['feature0', 'feature1', 'feature2', 'feature3']
    assert result['feature0'].tolist() == [int(feature0[0])]
    assert result['feature1'].tolist() == [feature1[0]]
    assert result['feature2'].tolist() == [feature2[0]]
    assert np.float32(result['feature3'][0]) == np.float32(feature3[0])


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


@pytest.fixture
def photos(tmp_path):
    # two small JPEGs in place of the tutorial's downloaded photos (no downloads here)
    from PIL import Image
    paths = []
    for name, size in (("320px-Felis_catus-cat_on_snow.jpg", (24, 16)),
                       ("194px-New_East_River_Bridge_from_Brooklyn_det.4a09796u.jpg",
                        (12, 20))):
        pixels = np.random.default_rng(len(name)).integers(0, 256, (size[1], size[0], 3),
                                                           dtype=np.uint8)
        path = str(tmp_path / name)
        Image.fromarray(pixels).save(path, format="JPEG")
        paths.append(path)
    return paths


def test_walkthrough_reading_and_writing_image_data(photos, capsys):
    cat_in_snow, williamsburg_bridge = photos

    image_labels = {
        cat_in_snow: 0,
        williamsburg_bridge: 1,
    }

    # This is an example, just using the cat image.
    # the tutorial's open(cat_in_snow, 'rb').read() leaves the file to the garbage
    # collector, a ResourceWarning (an error in this suite): _read closes it
    image_string = _read(cat_in_snow)

    label = image_labels[cat_in_snow]

    # Create a dictionary with features that may be relevant.
    def image_example(image_string, label):
        image_shape = tf.io.decode_jpeg(image_string).shape

        feature = {
            'height': _int64_feature(image_shape[0]),
            'width': _int64_feature(image_shape[1]),
            'depth': _int64_feature(image_shape[2]),
            'label': _int64_feature(label),
            'image_raw': _bytes_feature(image_string),
        }

        return tf.train.Example(features=tf.train.Features(feature=feature))

    for line in str(image_example(image_string, label)).split('\n')[:15]:
        print(line)
    print('...')
    assert capsys.readouterr().out.startswith("features {\n  feature {\n    key: ")

    # Write the raw image files to `images.tfrecords`.
    # First, process the two images into `tf.train.Example` messages.
    # Then, write to a `.tfrecords` file.
    record_file = 'images.tfrecords'
    with tf.io.TFRecordWriter(record_file) as writer:
        for filename, label in image_labels.items():
            image_string = _read(filename)  # the tutorial's open(filename, 'rb').read()
            tf_example = image_example(image_string, label)
            writer.write(tf_example.SerializeToString())

    raw_image_dataset = tf.data.TFRecordDataset('images.tfrecords')

    # Create a dictionary describing the features.
    image_feature_description = {
        'height': tf.io.FixedLenFeature([], tf.int64),
        'width': tf.io.FixedLenFeature([], tf.int64),
        'depth': tf.io.FixedLenFeature([], tf.int64),
        'label': tf.io.FixedLenFeature([], tf.int64),
        'image_raw': tf.io.FixedLenFeature([], tf.string),
    }

    def _parse_image_function(example_proto):
        # Parse the input tf.train.Example proto using the dictionary above.
        return tf.io.parse_single_example(example_proto, image_feature_description)

    parsed_image_dataset = raw_image_dataset.map(_parse_image_function)

    shown = []
    for image_features in parsed_image_dataset:
        image_raw = image_features['image_raw'].numpy()
        shown.append(image_raw)  # the tutorial displays it with IPython.display
        heights = int(image_features['height']), int(image_features['width'])
        assert tf.io.decode_jpeg(image_raw).shape[:2] == heights
    files = list(image_labels)
    assert shown == [_read(path) for path in files]
    assert [int(f['label']) for f in parsed_image_dataset] == [0, 1]
    assert [(int(f['height']), int(f['width']), int(f['depth']))
            for f in parsed_image_dataset] == [(16, 24, 3), (20, 12, 3)]
