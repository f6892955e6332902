"""Data-augmentation layers: random image transforms Keras applies only in training.

At inference (``training=False``, what ``predict`` uses) each passes its images through unchanged,
as Keras 3.15's and tf_keras 2's code does and their ``predict`` shows; the randomness exists only
in training, so a converted model drops it (the report says so), as it drops Dropout's noise.
Not here: tf_keras's ``RandomCrop``, which center-crops and resizes at inference (read as a
Resizing with ``crop_to_aspect_ratio``), and the layers that transform at inference too
(AutoContrast, Equalization).
"""

from __future__ import annotations

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape

#: the Keras classes that are the identity at inference -> what they do in training
AUGMENTATIONS: dict[str, str] = {
    "RandomFlip": "flips images", "RandomRotation": "rotates images", "RandomZoom": "zooms images",
    "RandomTranslation": "translates images", "RandomContrast": "scales contrast",
    "RandomBrightness": "shifts brightness", "RandomCrop": "crops a random window (Keras 3: the identity at "
    "inference)", "RandomHeight": "resizes the height", "RandomWidth": "resizes the width",
    "RandomGrayscale": "turns images gray", "RandomHue": "shifts hue", "RandomSaturation": "scales saturation",
    "RandomSharpness": "sharpens or blurs", "RandomShear": "shears images", "RandomColorJitter": "jitters colours",
    "RandomColorDegeneration": "blends with grayscale", "RandomPosterization": "posterizes",
    "RandomErasing": "erases patches", "RandomGaussianBlur": "blurs", "RandomInvert": "inverts values",
    "RandomPerspective": "warps perspective", "RandomElasticTransform": "warps elastically",
    "Solarization": "solarizes", "MixUp": "mixes image pairs", "CutMix": "pastes patches between images",
    "RandAugment": "applies random augmentations", "AugMix": "mixes augmentation chains",
}


@layer_kind
@layer_config
class Augmentation(LayerConfig):
    """A random augmentation (its Keras class in ``augmentation``): the identity at inference."""

    kind = "Augmentation"
    training_only = True
    augmentation: str

    def __post_init__(self) -> None:
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {self.augmentation!r}")

    def output_shape(self, shape: Shape) -> Shape:
        return shape
