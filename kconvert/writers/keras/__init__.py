"""IR models as Keras configs: the tf.keras 2 dialect that TF.js and legacy HDF5 readers expect."""
