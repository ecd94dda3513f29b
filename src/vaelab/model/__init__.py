"""The probabilistic models (a VAE: encoder, prior, decoder + likelihood; hierarchical VAEs with
groups of latents) and their architectures, one per `conf/model/*.yaml` (the training system
around them is vaelab.system)."""

from vaelab.model.conv import ConvDecoder, ConvEncoder
from vaelab.model.conv_hvae import ConvHVAE
from vaelab.model.hvae import HVAE
from vaelab.model.mlp import MLPDecoder, MLPEncoder
from vaelab.model.top_down import TopDownVAE
from vaelab.model.vae import VAE

__all__ = ["VAE", "HVAE", "ConvHVAE", "TopDownVAE", "MLPEncoder", "MLPDecoder", "ConvEncoder", "ConvDecoder"]
