"""The probabilistic model (VAE: encoder, prior, decoder + likelihood) and its architectures,
one per `conf/model/*.yaml` (the training system around it is vaelab.system)."""

from vaelab.model.conv import ConvDecoder, ConvEncoder
from vaelab.model.mlp import MLPDecoder, MLPEncoder
from vaelab.model.vae import VAE

__all__ = ["VAE", "MLPEncoder", "MLPDecoder", "ConvEncoder", "ConvDecoder"]
