"""The Vision Transformer's backbone (``ViTBackbone``): the image cut into patches by a strided
Conv2D, flattened to a sequence, a learned class token put first, a learned position table added,
then pre-norm encoder blocks (no mask; exact GELU in the MLP) and a final LayerNormalization.

Per KerasHub 0.32 (``vit_layers.py``): the blocks are saved as the list ``encoder_layers`` of layer
``vit_encoder``, whose entries Keras names by their class (``vi_t_encoder_block``,
``vi_t_encoder_block_1``...); the class token is the patching layer's own variable.
"""

from __future__ import annotations

from kconvert.ir.graph import TensorRef
from kconvert.ir.layers.conv import Conv2D
from kconvert.ir.layers.core import Permute, Reshape
from kconvert.ir.layers.merge import Add, Concatenate
from kconvert.readers.keras.hub import hub_model
from kconvert.readers.keras.hub.blocks import BlockParts, Transformer, layer_norm, learned_tensor
from kconvert.readers.keras.hub.graph import HubGraph, Saved
from kconvert.readers.keras.layer import KerasLayerConfig

#: where ViTEncoderBlock saves its parts
VIT_PARTS = BlockParts(("layer_norm_1",), ("mha",), ("layer_norm_2",), ("mlp", "dense_1"), ("mlp", "dense_2"))
_EMBEDDING, _ENCODER = Saved("vit_patching_and_embedding"), Saved("vit_encoder")


def _block_key(i: int) -> str:
    """The key Keras saves entry ``i`` of the ``encoder_layers`` list under."""
    return "vi_t_encoder_block" + (f"_{i}" if i else "")


@hub_model("ViTBackbone")
def vit(cfg: KerasLayerConfig, g: HubGraph) -> list[TensorRef]:
    """Output: the encoded sequence (class token first when ``use_class_token``)."""
    data_format = cfg.data_format()
    image_shape = cfg.shape("image_shape", batch=False)
    if len(image_shape) != 3:
        raise cfg.error(f"expected an image shape (height, width, channels), got {image_shape}", "image_shape")
    height, width = image_shape[:2] if data_format == "channels_last" else image_shape[1:]
    patch = cfg.ints("patch_size", 2)
    if height is None or width is None or height % patch[0] or width % patch[1]:
        raise cfg.error(f"the image's height and width must be known multiples of the patch size {patch}, "
                        f"got {image_shape}", "image_shape")
    hidden, epsilon = cfg.integer("hidden_dim"), cfg.number("layer_norm_epsilon", 1e-6)
    cfg.mark_used("dropout_rate")  # dropout changes nothing at inference
    images = g.input("images", image_shape, "float32")
    x = g.add("patch_embedding", Conv2D(filters=hidden, kernel_size=patch, strides=patch, data_format=data_format,
                                        use_bias=cfg.boolean("use_patch_bias", True)),
              images, saved=_EMBEDDING.at("patch_embedding"))
    if data_format == "channels_first":
        x = g.add("patches_last", Permute(dims=(2, 3, 1)), x)
    steps = (height // patch[0]) * (width // patch[1])
    x = g.add("patches", Reshape(target_shape=(steps, hidden)), x)
    if cfg.boolean("use_class_token", True):
        token = learned_tensor(g, "class_token", x, (1, hidden), _EMBEDDING)
        x = g.add("with_class_token", Concatenate(axis=1), token, x)
        steps += 1
    where = learned_tensor(g, "position_embedding", x, (steps, hidden), _EMBEDDING.at("position_embedding"))
    x = g.add("embeddings", Add(), x, where)
    block = Transformer(num_heads=cfg.integer("num_heads"), intermediate_dim=cfg.integer("mlp_dim"),
                        activation="gelu", epsilon=epsilon, dropout=cfg.number("attention_dropout", 0.0),
                        normalize_first=True, parts=VIT_PARTS, attention_bias=cfg.boolean("use_mha_bias", True),
                        feedforward_bias=cfg.boolean("use_mlp_bias", True))
    for i in range(cfg.integer("num_layers", minimum=0)):
        x = block.block(g, f"transformer_block_{i + 1}", x, None, hidden,
                        _ENCODER.at("encoder_layers", _block_key(i)))
    return [layer_norm(g, "encoder_norm", x, epsilon, _ENCODER.at("layer_norm"))]
