"""The twenty-fifth round, audio (see test_tf2_ports.py): TF's "Simple audio recognition:
Recognizing keywords" tutorial (TF 2.12) as written, imports changed, on a synthetic "mini
speech commands" directory made here in place of the download: four words, each a tone of
its own frequency (with a random phase, a little vibrato and noise), 16-bit WAV files at
16 kHz of 0.6 to 1 s, read by audio_dataset_from_directory as the tutorial reads them.
Plots and audio playback are left out (display only).

Oracles: the spectrogram equals a NumPy STFT (rfft of periodic-Hann windowed frames of 255
samples every 128, 256 bins) of the waveform, and its loudest bin is the word's tone
(frequency * 256 / 16000); the padded clips end in zeros after their own samples; the
trained model classifies the held-out clips far above chance (0.25): at least 7 of 8
right, which guessing reaches with probability below 4e-4; the export's predictions for a
file, for its waveform and from the saved signature equal the model's on its spectrogram.
The ops themselves are tested in test_signal.py, test_audio.py and
data/test_audio_dataset_from_directory.py.
"""

import io
import os
import pathlib
import wave

import numpy as np
import pytest

import xlaflow as tf
from xlaflow.keras import layers, models

COMMANDS = {"down": 440.0, "go": 1000.0, "no": 2200.0, "yes": 4400.0}  # Hz


@pytest.fixture(autouse=True)
def _seeded():
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


def _mini_speech_commands(root, per_word=20, rate=16000):
    """`per_word` WAV files per word: the word's tone, 0.6 to 1 s long, plus noise."""
    rng = np.random.default_rng(5)
    for word, hertz in COMMANDS.items():
        (root / word).mkdir(parents=True)
        for k in range(per_word):
            n = int(rate * rng.uniform(0.6, 1.0))
            t = np.arange(n) / rate
            vibrato = 1 + 0.01 * np.sin(2 * np.pi * 5 * t)
            wave_ = 0.3 * np.sin(2 * np.pi * hertz * vibrato * t + rng.uniform(0, 2 * np.pi))
            wave_ += 0.05 * rng.standard_normal(n)
            buffer = io.BytesIO()
            with wave.open(buffer, "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(2)
                f.setframerate(rate)
                f.writeframes(np.round(wave_ * 32767).astype("<i2").tobytes())
            (root / word / f"{k:08x}_nohash_0.wav").write_bytes(buffer.getvalue())


def _stft_numpy(waveform):
    k = np.arange(255)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * k / 254)  # TF's periodic Hann of odd length 255
    frames = np.stack([waveform[s:s + 255] for s in range(0, len(waveform) - 254, 128)])
    return np.abs(np.fft.rfft(frames * window, n=256, axis=-1))


@pytest.mark.slow  # the tutorial's CNN: ~10 s of XLA compiles (fit, evaluate, predict, export)
def test_simple_audio_recognition(tmp_path, capsys, monkeypatch):
    # Set the seed value for experiment reproducibility.
    seed = 42
    tf.random.set_seed(seed)
    np.random.seed(seed)

    DATASET_PATH = 'data/mini_speech_commands'

    data_dir = pathlib.Path(tmp_path / DATASET_PATH)
    if not data_dir.exists():
        # tf.keras.utils.get_file downloads mini_speech_commands.zip: made here instead
        _mini_speech_commands(data_dir)

    commands = np.array(tf.io.gfile.listdir(str(data_dir)))
    commands = commands[(commands != 'README.md') & (commands != '.DS_Store')]
    print('Commands:', commands)
    assert sorted(commands) == sorted(COMMANDS)

    # batch_size=64 in the tutorial: its 837 validation clips make 14 batches, which shard
    # splits into test and validation sets below; 8 gives these 16 clips 2 batches (and
    # every batch is full: one compiled shape per step)
    train_ds, val_ds = tf.keras.utils.audio_dataset_from_directory(
        directory=data_dir,
        batch_size=8,
        validation_split=0.2,
        seed=0,
        output_sequence_length=16000,
        subset='both')

    label_names = np.array(train_ds.class_names)
    print()
    print("label names:", label_names)
    out = capsys.readouterr().out
    assert "Found 80 files belonging to 4 classes.\nUsing 64 files for training.\n" \
           "Using 16 files for validation.\n" in out
    assert list(label_names) == ['down', 'go', 'no', 'yes']

    train_ds.element_spec  # noqa: B018  (shown in the notebook)

    def squeeze(audio, labels):
        audio = tf.squeeze(audio, axis=-1)
        return audio, labels

    train_ds = train_ds.map(squeeze, tf.data.AUTOTUNE)
    val_ds = val_ds.map(squeeze, tf.data.AUTOTUNE)

    test_ds = val_ds.shard(num_shards=2, index=0)
    val_ds = val_ds.shard(num_shards=2, index=1)

    for example_audio, example_labels in train_ds.take(1):
        print(example_audio.shape)
        print(example_labels.shape)
    assert example_audio.shape == (8, 16000) and example_labels.shape == (8,)

    label_names[[1,1,3,0]]

    def get_spectrogram(waveform):
        # Convert the waveform to a spectrogram via a STFT.
        spectrogram = tf.signal.stft(
            waveform, frame_length=255, frame_step=128)
        # Obtain the magnitude of the STFT.
        spectrogram = tf.abs(spectrogram)
        # Add a `channels` dimension, so that the spectrogram can be used
        # as image-like input data with convolution layers (which expect
        # shape (`batch_size`, `height`, `width`, `channels`).
        spectrogram = spectrogram[..., tf.newaxis]
        return spectrogram

    for i in range(3):
        label = label_names[example_labels[i]]
        waveform = example_audio[i]
        spectrogram = get_spectrogram(waveform)

        print('Label:', label)
        print('Waveform shape:', waveform.shape)
        print('Spectrogram shape:', spectrogram.shape)
        # print('Audio playback'); display.display(display.Audio(...)): display only

        assert spectrogram.shape == (124, 129, 1)
        np.testing.assert_allclose(np.asarray(spectrogram)[..., 0],
                                   _stft_numpy(np.asarray(waveform, np.float64)),
                                   rtol=1e-3, atol=1e-3)
        loudest = int(np.argmax(np.asarray(spectrogram)[:20, :, 0].mean(axis=0)))
        assert loudest == round(COMMANDS[str(label)] * 256 / 16000)

    def make_spec_ds(ds):
        return ds.map(
            map_func=lambda audio,label: (get_spectrogram(audio), label),
            num_parallel_calls=tf.data.AUTOTUNE)

    train_spectrogram_ds = make_spec_ds(train_ds)
    val_spectrogram_ds = make_spec_ds(val_ds)
    test_spectrogram_ds = make_spec_ds(test_ds)

    for example_spectrograms, example_spect_labels in train_spectrogram_ds.take(1):
        break

    train_spectrogram_ds = train_spectrogram_ds.cache().shuffle(10000).prefetch(tf.data.AUTOTUNE)
    val_spectrogram_ds = val_spectrogram_ds.cache().prefetch(tf.data.AUTOTUNE)
    test_spectrogram_ds = test_spectrogram_ds.cache().prefetch(tf.data.AUTOTUNE)

    input_shape = example_spectrograms.shape[1:]
    print('Input shape:', input_shape)
    num_labels = len(label_names)

    # Instantiate the `tf.keras.layers.Normalization` layer.
    norm_layer = layers.Normalization()
    # Fit the state of the layer to the spectrograms
    # with `Normalization.adapt`.
    norm_layer.adapt(data=train_spectrogram_ds.map(map_func=lambda spec, label: spec))

    model = models.Sequential([
        layers.Input(shape=input_shape),
        # Downsample the input.
        layers.Resizing(32, 32),
        # Normalize.
        norm_layer,
        layers.Conv2D(32, 3, activation='relu'),
        layers.Conv2D(64, 3, activation='relu'),
        layers.MaxPooling2D(),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(128, activation='relu'),
        layers.Dropout(0.5),
        layers.Dense(num_labels),
    ])

    model.summary()

    model.compile(
        optimizer=tf.keras.optimizers.Adam(),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=['accuracy'],
    )

    EPOCHS = 10
    history = model.fit(
        train_spectrogram_ds,
        validation_data=val_spectrogram_ds,
        epochs=EPOCHS,
        callbacks=tf.keras.callbacks.EarlyStopping(verbose=1, patience=2),
    )

    metrics = history.history
    assert metrics['loss'][-1] < metrics['loss'][0]

    model.evaluate(test_spectrogram_ds, return_dict=True)

    y_pred = model.predict(test_spectrogram_ds)
    y_pred = tf.argmax(y_pred, axis=1)
    y_true = tf.concat(list(test_spectrogram_ds.map(lambda s,lab: lab)), axis=0)
    confusion_mtx = tf.math.confusion_matrix(y_true, y_pred)
    # shard keeps batch 0 (8 clips) for the test set; guessing (1/4) gets 7 of 8 right with
    # probability below 4e-4
    assert len(y_true) == 8
    assert int(np.trace(np.asarray(confusion_mtx))) >= 7

    x = data_dir/'no/00000001_nohash_0.wav'  # the tutorial's 'no/01bb6a2a_nohash_0.wav'
    x = tf.io.read_file(str(x))
    x, sample_rate = tf.audio.decode_wav(x, desired_channels=1, desired_samples=16000,)
    assert int(sample_rate) == 16000
    x = tf.squeeze(x, axis=-1)
    waveform = x
    with wave.open(str(data_dir/'no/00000001_nohash_0.wav')) as f:  # the file's own samples
        samples = np.frombuffer(f.readframes(f.getnframes()), '<i2')
    assert len(samples) < 16000  # shorter: padded with zeros to desired_samples
    np.testing.assert_array_equal(waveform, np.pad(samples / 32768, (0, 16000 - len(samples))))
    x = get_spectrogram(x)
    x = x[tf.newaxis,...]

    prediction = model(x)
    x_labels = ['no', 'yes', 'down', 'go', 'left', 'up', 'right', 'stop']  # noqa: F841
    # plt.bar(x_labels, tf.nn.softmax(prediction[0])): display only
    assert label_names[int(np.argmax(prediction[0]))] == 'no'
    assert float(tf.reduce_sum(tf.nn.softmax(prediction[0]))) == pytest.approx(1.0, rel=1e-5)

    class ExportModel(tf.Module):
        def __init__(self, model):
            self.model = model

            # Accept either a string-filename or a batch of waveforms.
            # YOu could add additional signatures for a single wave, or a ragged-batch.
            # The string signature is not traced here: XLA holds no strings, so in xlaflow
            # the filename branch runs in Python before the compiled part (__call__ below)
            self.serve.get_concrete_function(
               x=tf.TensorSpec(shape=[None, 16000], dtype=tf.float32))

        def __call__(self, x):
            # If they pass a string, load the file and decode it.
            if isinstance(x, str) or x.dtype == tf.string:
                x = tf.io.read_file(x)
                x, _ = tf.audio.decode_wav(x, desired_channels=1, desired_samples=16000,)
                x = tf.squeeze(x, axis=-1)
                x = x[tf.newaxis, :]
            result = self.serve(x)
            # the class names are strings too: looked up on the host, after the compiled part
            result['class_names'] = tf.gather(label_names, result['class_ids'])
            return result

        # the tutorial's @tf.function __call__, less the string branch and the names; its
        # waveform signature as input_signature, which saved_model.save exports
        @tf.function(input_signature=[tf.TensorSpec(shape=[None, 16000], dtype=tf.float32)])
        def serve(self, x):
            x = get_spectrogram(x)
            result = self.model(x, training=False)

            class_ids = tf.argmax(result, axis=-1)
            return {'predictions':result,
                    'class_ids': class_ids}

    export = ExportModel(model)
    from_file = export(tf.constant(str(data_dir/'no/00000001_nohash_0.wav')))
    assert from_file['class_names'].numpy().tolist() == [b'no']
    np.testing.assert_allclose(from_file['predictions'], model(x, training=False), rtol=1e-4,
                               atol=1e-4)

    from_waveform = export(waveform[tf.newaxis, :])
    np.testing.assert_allclose(from_waveform['predictions'], from_file['predictions'],
                               rtol=1e-5, atol=1e-5)

    monkeypatch.chdir(tmp_path)  # the tutorial writes "saved" in its working directory
    tf.saved_model.save(export, "saved")
    imported = tf.saved_model.load("saved")
    # imported(waveform[tf.newaxis, :]) in the tutorial: an xlaflow export restores its
    # signatures (named inputs, a dict of outputs), not the object's Python __call__
    served = imported.signatures['serving_default'](x=waveform[tf.newaxis, :])
    np.testing.assert_array_equal(served['class_ids'], [2])  # 'no'
    np.testing.assert_allclose(served['predictions'], from_file['predictions'], rtol=1e-5,
                               atol=1e-5)
