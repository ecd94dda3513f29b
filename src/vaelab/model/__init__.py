"""The VAE system and its architectures, one per `conf/model/*.yaml`."""

from vaelab.model.conv import ConvDecoder, ConvEncoder
from vaelab.model.mlp import MLPDecoder, MLPEncoder
from vaelab.model.vae import VAE

__all__ = ["VAE", "MLPEncoder", "MLPDecoder", "ConvEncoder", "ConvDecoder"]
