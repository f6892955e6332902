"""On-disk format facts that a format's reader and writer both need (encodings, naming)."""
