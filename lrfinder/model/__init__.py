"""The network: its specification, output heads, NumPy forward pass and Keras export."""
