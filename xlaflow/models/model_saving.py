"""Model's saving methods (Keras 2's): the whole model, its architecture as JSON, the
serving export and the weights, each delegating to xlaflow.saving, which owns the formats."""

from __future__ import annotations

import os


class SavingMethods:
    """Mixed into Model: `save`, `to_json`, `export`, `save_weights`, `load_weights`."""

    def save(self, filepath, overwrite=True, include_optimizer=True, save_format=None,
             platforms=None):
        """Write the model to the directory `filepath`: architecture, weights, optimizer
        state, compile config and a `serving_default` export (see xf.saved_model); or, for
        save_format="h5" or an .h5/.hdf5 path, all but the export to one HDF5 file; for
        save_format="keras" or a .keras path, to TF 2.12's .keras zip."""
        from xlaflow.saving import keras_model
        keras_model.save_model(self, filepath, overwrite=overwrite,
                               include_optimizer=include_optimizer, save_format=save_format,
                               platforms=platforms)

    def to_json(self, **kwargs):
        """The architecture as JSON (Keras'); `keras.models.model_from_json` rebuilds it."""
        from xlaflow.saving import keras_model
        return keras_model.model_to_json(self, **kwargs)

    def export(self, filepath, platforms=None):
        """Only the serving export of this model (Keras 3's `model.export`)."""
        from xlaflow.saving import export
        export.save(self, filepath, platforms=platforms)

    def _serving_function(self):
        """An xf.function of the model's flat inputs (named) returning named outputs."""
        from xlaflow.models import signature
        return signature.serving_function(self)

    def save_weights(self, filepath, overwrite=True, save_format=None):
        """Write the weights atomically: to one HDF5 file in TF 2.12's v3 layout when
        `filepath` ends in .weights.h5, in Keras 2's when it ends in .h5/.hdf5 (or
        save_format="h5"), else to an orbax directory."""
        from xlaflow.saving import hdf5_weights, keras_v3_weights_only, weights
        if save_format not in (None, "h5", "tf"):
            raise ValueError(f"save_weights: save_format must be None, 'tf' or 'h5'; "
                             f"received {save_format!r}")
        if keras_v3_weights_only.is_weights_path(filepath):  # TF 2.12: the path decides
            keras_v3_weights_only.save_weights(self, filepath, overwrite)
        elif save_format == "h5" or (save_format is None and
                                   hdf5_weights.is_hdf5_path(filepath)):
            hdf5_weights.save_weights(self, filepath, overwrite)
        else:
            weights.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath, skip_mismatch=False, by_name=False, options=None):
        """Load weights written by save_weights: all of them, each into the weight at its
        position (Keras' default); into an unbuilt model (directory format) they wait for
        its first call, as Keras 2's TF format. Returns TF's restore status for the
        directory format (assert_consumed() holds once all are in), None for HDF5.

        by_name=True (HDF5 only, as Keras 2): each saved layer's weights go into the layers
        of the same name, whatever the rest of the topology; skip_mismatch=True then skips,
        with a logged warning, a layer whose weight count differs or a weight whose shape
        does, instead of raising.

        A `.keras` zip or a `.weights.h5` file of TF 2.12's v3 layout loads by structure
        whatever by_name says (as TF 2.12), skip_mismatch skipping what does not fit."""
        from xlaflow.saving import keras_v3_weights_only
        if keras_v3_weights_only.is_v3_weights_source(filepath):  # by structure, as TF 2.12
            keras_v3_weights_only.load_weights(self, filepath, skip_mismatch)
            return None
        if skip_mismatch and not by_name:
            raise ValueError("load_weights: skip_mismatch=True needs by_name=True (Keras 2); "
                             f"received skip_mismatch={skip_mismatch!r}, by_name={by_name!r}")
        from xlaflow.saving import hdf5_weights, weights
        is_file = hdf5_weights.is_hdf5_path(filepath) and not os.path.isdir(filepath) or \
            os.path.isfile(filepath)  # Keras 2 reads a plain file as HDF5 whatever its name
        if by_name:
            if not is_file:
                raise NotImplementedError(
                    "load_weights(by_name=True) reads HDF5 files only: weights in the "
                    f"directory (TF checkpoint) format {filepath} load by the model's "
                    "structure, as Keras 2's. Load them into the saved architecture and "
                    "copy layers across with get_weights()/set_weights(), or save to .h5")
            from xlaflow.saving import hdf5_by_name
            hdf5_by_name.load_weights_by_name(self, filepath, skip_mismatch)
            return None
        if hdf5_weights.is_hdf5_path(filepath) and not os.path.isdir(filepath):
            hdf5_weights.load_weights(self, filepath)
            return None
        if os.path.isfile(filepath):  # Keras 2 reads a plain file as HDF5 whatever its name
            weights.load_weights(self, filepath)
            return None
        waiting = weights.load_weights(self, filepath)  # unbuilt: at its first call
        from xlaflow.saving.checkpoint_graph import RestoreStatus
        return RestoreStatus(os.fspath(filepath), deferred=[waiting] if waiting else ())
