"""The file names that identify a format on disk, shared by its reader, its writer and the
detection table (kept apart from the format modules, which bring numpy: detection must not)."""

TFJS_MODEL = "model.json"  # a TF.js layers model directory's entry point
DL4J_CONFIGURATION, DL4J_COEFFICIENTS = "configuration.json", "coefficients.bin"  # members of a DL4J zip
DL4J_ZIP = "model.zip"  # the name kconvert gives the zip in a DL4J output directory
