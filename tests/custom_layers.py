"""A custom Keras layer registered for serialization, as a user's module would hold it (the tests'
`--custom-module tests.custom_layers`)."""

import keras


@keras.saving.register_keras_serializable(package="lrfinder_tests")
class Scale(keras.layers.Layer):
    """Multiplies each feature by a trainable factor (initialized at 1)."""

    def build(self, input_shape):
        self.factor = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="factor")

    def call(self, inputs):
        return inputs * self.factor
