"""fit/evaluate/predict accept Keras 2's max_queue_size, workers and use_multiprocessing
(host feeding only: results equal a call without them) and refuse bad values up front."""

import numpy as np
import pytest

from xlaflow import keras

FEEDING = {"max_queue_size": 4, "workers": 2, "use_multiprocessing": True}


class Batches(keras.utils.Sequence):
    def __init__(self):
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(12, 3)).astype("float32")
        self.y = self.x.sum(1, keepdims=True)

    def __len__(self):
        return 3

    def __getitem__(self, index):
        return self.x[index * 4:(index + 1) * 4], self.y[index * 4:(index + 1) * 4]


def _model():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_accepted_by_fit_evaluate_predict_with_unchanged_results():
    plain, tuned, seq = _model(), _model(), Batches()
    h_plain = plain.fit(seq, epochs=2, verbose=0, shuffle=False)
    h_tuned = tuned.fit(seq, epochs=2, verbose=0, shuffle=False, **FEEDING)
    np.testing.assert_allclose(h_tuned.history["loss"], h_plain.history["loss"], rtol=1e-6)
    assert tuned.evaluate(seq, verbose=0, **FEEDING) == pytest.approx(
        plain.evaluate(seq, verbose=0), rel=1e-6)
    np.testing.assert_allclose(tuned.predict(seq, verbose=0, workers=0),
                               plain.predict(seq, verbose=0), rtol=1e-6)
    # numpy's integers are ints too (a value read from a config or argparse default)
    tuned.evaluate(seq, verbose=0, workers=np.int64(3), max_queue_size=0)


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
@pytest.mark.parametrize("bad, error, message", [
    ({"workers": -1}, ValueError, "workers must be an int >= 0; received -1"),
    ({"workers": 1.5}, TypeError, "workers must be an int >= 0; received 1.5"),
    ({"max_queue_size": -2}, ValueError, "max_queue_size must be an int >= 0; received -2"),
    ({"max_queue_size": True}, TypeError, "max_queue_size must be an int >= 0; received True"),
    ({"use_multiprocessing": "yes"}, TypeError,
     "use_multiprocessing must be a bool; received 'yes'"),
])
def test_bad_values_are_refused_naming_the_argument_before_training(method, bad, error,
                                                                    message):
    model, seq = _model(), Batches()
    model.predict(seq, verbose=0)  # built, so the weights can be compared
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(error, match=f"{method}: {message}"):
        getattr(model, method)(seq, verbose=0, **bad)
    for got, expect in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, expect)
