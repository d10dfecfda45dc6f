"""PARSEC and other search strategies for NNI 3.0 model spaces."""
