"""Differential fuzzing: random models built and saved by the real frameworks (Keras 3, tf_keras,
Deeplearning4j), read by kconvert, run in its runtime and written to every target, each judged by
the real runtime against the framework's own outputs.  See docs/ARCHITECTURE.md ("Differential
fuzzing") and ``bench/fuzz.py``."""
