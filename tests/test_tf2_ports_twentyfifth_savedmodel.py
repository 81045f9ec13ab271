"""The twenty-fifth round of whole TF2 programs (see test_tf2_ports.py): TF 2.12's guide
"Using the SavedModel format" (tensorflow.org/guide/saved_model), its custom-model sections
as written, imports changed.

What changed, each line saying why: the pretrained MobileNet (a download) is a tiny
functional Keras model whose last layer is also named "predictions", and ImageNet's labels
are that model's three; `tf.TensorSpec(None, ...)` (unknown rank) in the signature section
is `tf.TensorSpec([], ...)`: an export fixes each input's rank. The guide's `tf.print` in
the control-flow section is kept and the function also returns what it prints: jax.export
cannot serialize host callbacks, so a restored function computes without printing (the
export says so in a logged warning). Left out: "Running a SavedModel in TensorFlow
Serving" (TF Serving's docker image; tests/serving runs xlaflow's server on exports),
"The SavedModel format on disk", "Details of the SavedModel command line interface"
(saved_model_cli; xlaflow's layout is docs/saved_model.md, its CLI `xlaflow saved_model`)
and "Load a SavedModel in C++".

Oracles: closed forms of the guide's own arithmetic (x * v; fine-tuning drives v to 5, the
root of 10 - 2v), the tiny model's NumPy forward pass, and the guide's stated outputs.
"""

import os

import numpy as np
import pytest

import xlaflow as tf


@pytest.fixture(autouse=True)
def _seeded():
    tf.keras.utils.set_random_seed(int(os.environ.get("XF_PORT_SEED", "0")))


class CustomModule(tf.Module):

    def __init__(self):
        super(CustomModule, self).__init__()  # noqa: UP008 (the guide's form)
        self.v = tf.Variable(1.)

    @tf.function
    def __call__(self, x):
        print('Tracing with', x)
        return x * self.v

    @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
    def mutate(self, new_v):
        self.v.assign(new_v)


def _tiny_pretrained():
    """Stands for MobileNet: images in, softmax "predictions" out (a functional model)."""
    inputs = tf.keras.Input(shape=(8, 8, 3))
    x = tf.keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf.keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    return tf.keras.Model(inputs, outputs)


def test_creating_a_savedmodel_from_keras(tmp_path):
    pretrained_model = _tiny_pretrained()
    x = np.random.default_rng(0).random((1, 8, 8, 3)).astype("float32")
    imagenet_labels = np.array(["background", "cat", "dog", "fish"])
    result_before_save = pretrained_model(x)
    decoded = imagenet_labels[np.argsort(result_before_save)[0, ::-1][:5] + 1]

    mobilenet_save_path = os.path.join(tmp_path, "mobilenet/1/")
    tf.saved_model.save(pretrained_model, mobilenet_save_path)

    loaded = tf.saved_model.load(mobilenet_save_path)
    assert list(loaded.signatures.keys()) == ["serving_default"]

    infer = loaded.signatures["serving_default"]
    outputs = infer.structured_outputs
    assert list(outputs) == ["predictions"] and outputs["predictions"].shape == (None, 3)

    labeling = infer(tf.constant(x))[pretrained_model.output_names[0]]
    decoded = imagenet_labels[np.argsort(labeling)[0, ::-1][:5] + 1]
    expected = imagenet_labels[np.argsort(np.asarray(result_before_save))[0, ::-1][:5] + 1]
    np.testing.assert_array_equal(decoded, expected)
    np.testing.assert_allclose(labeling, result_before_save, rtol=1e-5, atol=1e-6)
    # the restored model is callable too, as TF's restored Keras object
    np.testing.assert_allclose(loaded(x), result_before_save, rtol=1e-5, atol=1e-6)

    # "General fine-tuning": the restored object lists its Variables
    assert len(loaded.trainable_variables) == 4  # conv kernel and bias, dense ones
    trainable_variable_ids = {id(v) for v in loaded.trainable_variables}
    # (xlaflow's loaded.variables is {name: array}: the non-trainable ones by their list)
    non_trainable_variables = [v for v in loaded.non_trainable_variables
                               if id(v) not in trainable_variable_ids]
    assert all(not v.trainable for v in non_trainable_variables)


def test_saving_loading_and_fine_tuning_a_custom_model(tmp_path, capsys):
    module = CustomModule()

    module_no_signatures_path = os.path.join(tmp_path, 'module_no_signatures')
    module(tf.constant(0.))
    print('Saving model...')
    tf.saved_model.save(module, module_no_signatures_path)
    out = capsys.readouterr().out
    assert out.startswith("Tracing with") and "Saving model..." in out

    # Loading and using a custom model
    imported = tf.saved_model.load(module_no_signatures_path)
    assert imported(tf.constant(3.)).numpy() == 3
    imported.mutate(tf.constant(2.))
    assert imported(tf.constant(3.)).numpy() == 6
    assert "Tracing with" not in capsys.readouterr().out  # no Python code is saved

    # "calling a tf.function with a new input signature will fail"
    with pytest.raises(ValueError, match="Could not find a matching concrete function"):
        imported(tf.constant([3.]))

    # Basic fine-tuning
    optimizer = tf.keras.optimizers.SGD(0.05)

    def train_step():
        with tf.GradientTape() as tape:
            loss = (10. - imported(tf.constant(2.))) ** 2
        variables = tape.watched_variables()
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return loss

    losses = []
    for _ in range(10):
        # "v" approaches 5, "loss" approaches 0
        losses.append(float(train_step()))
        print("loss={:.2f} v={:.2f}".format(losses[-1], imported.v.numpy()))  # noqa: UP032
    # v' = v + 0.05 * 4 * (10 - 2v): the error 5 - v shrinks by 0.6 per step
    np.testing.assert_allclose(imported.v.numpy(), 5 - 3 * 0.6 ** 10, rtol=1e-5)
    # loss_k = (10 - 2 v_k)^2 = (2 * 3 * 0.6^k)^2
    np.testing.assert_allclose(losses, [(6 * 0.6 ** k) ** 2 for k in range(10)], rtol=1e-4)
    assert capsys.readouterr().out.splitlines()[0] == "loss=36.00 v=3.20"


def test_control_flow_in_savedmodels(tmp_path):
    @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
    def control_flow(x):
        if x < 0:
            tf.print("Invalid!")
            result = tf.constant(-1)
        else:
            tf.print(x % 3)
            result = x % 3
        return result  # (xlaflow: printed values are also returned; see the docstring)

    to_export = tf.Module()
    to_export.control_flow = control_flow
    tf.saved_model.save(to_export, os.path.join(tmp_path, "control_flow"))

    imported = tf.saved_model.load(os.path.join(tmp_path, "control_flow"))
    assert int(imported.control_flow(tf.constant(-1))) == -1  # Invalid!
    assert int(imported.control_flow(tf.constant(2))) == 2    # 2
    assert int(imported.control_flow(tf.constant(3))) == 0    # 0


def test_specifying_signatures_during_export(tmp_path):
    module = CustomModule()
    module(tf.constant(0.))

    module_with_signature_path = os.path.join(tmp_path, 'module_with_signature')
    call = module.__call__.get_concrete_function(tf.TensorSpec([], tf.float32))
    tf.saved_model.save(module, module_with_signature_path, signatures=call)

    imported_with_signatures = tf.saved_model.load(module_with_signature_path)
    assert list(imported_with_signatures.signatures.keys()) == ["serving_default"]

    module_multiple_signatures_path = os.path.join(tmp_path, 'module_with_multiple_signatures')
    signatures = {"serving_default": call,
                  "array_input": module.__call__.get_concrete_function(
                      tf.TensorSpec([None], tf.float32))}

    tf.saved_model.save(module, module_multiple_signatures_path, signatures=signatures)
    imported_with_multiple_signatures = tf.saved_model.load(module_multiple_signatures_path)
    assert sorted(imported_with_multiple_signatures.signatures.keys()) == \
        ["array_input", "serving_default"]
    array_input = imported_with_multiple_signatures.signatures["array_input"]
    (out,) = array_input(x=np.float32([1., 2., 3.])).values()
    np.testing.assert_array_equal(out, [1., 2., 3.])  # x * v, v = 1

    class CustomModuleWithOutputName(tf.Module):
        def __init__(self):
            super(CustomModuleWithOutputName, self).__init__()  # noqa: UP008
            self.v = tf.Variable(1.)

        @tf.function(input_signature=[tf.TensorSpec([], tf.float32)])
        def __call__(self, x):
            return {'custom_output_name': x * self.v}

    module_output = CustomModuleWithOutputName()
    call_output = module_output.__call__.get_concrete_function(tf.TensorSpec([], tf.float32))
    module_output_path = os.path.join(tmp_path, 'module_with_output_name')
    tf.saved_model.save(module_output, module_output_path,
                        signatures={'serving_default': call_output})

    imported_with_output_name = tf.saved_model.load(module_output_path)
    outputs = imported_with_output_name.signatures['serving_default'].structured_outputs
    assert list(outputs) == ["custom_output_name"]
    assert outputs["custom_output_name"].shape == () and \
        outputs["custom_output_name"].name == "custom_output_name"
    assert float(imported_with_output_name(tf.constant(4.))["custom_output_name"]) == 4.0
