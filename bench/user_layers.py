"""A custom Keras layer registered for serialization, as a user's own module would hold it
(`--custom-module bench.user_layers`, for `bench.user_models`)."""

import keras


@keras.saving.register_keras_serializable(package="lrfinder_bench")
class FeatureGate(keras.layers.Layer):
    """Scales each feature by a learned gate in (0, 1): `x * sigmoid(w)`, w starting at 0."""

    def build(self, input_shape):
        self.logit = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="logit")

    def call(self, inputs):
        return inputs * keras.ops.sigmoid(self.logit)
