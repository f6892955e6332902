"""Writers: the IR into target formats (TF.js layers, Deeplearning4j, modern Keras).

Each target gets its own module with a registry keyed by IR layer kind, mirroring the readers.
"""
