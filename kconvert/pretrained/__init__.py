"""Helpers for running converted pretrained models: the input preprocessing and the output
decoding that Keras applications use (numpy only; nothing is downloaded)."""

from kconvert.pretrained import imagenet

__all__ = ["imagenet"]
