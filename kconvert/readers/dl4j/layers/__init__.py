"""Every DL4J layer converter; importing this package registers them all."""

from kconvert.readers.dl4j.layers import conv, core, objdetect, recurrent, reshaping  # noqa: F401  (imported for registration)
