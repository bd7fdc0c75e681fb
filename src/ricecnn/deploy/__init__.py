"""A trained model as a practitioner ships it: converted for a device runtime (LiteRT, ONNX Runtime),
checked against the Keras model it came from, and timed one image at a time."""
