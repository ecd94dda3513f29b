"""Data sources, one LightningDataModule per `conf/data/*.yaml`."""

from vaelab.data.array import ArrayData
from vaelab.data.base import InMemoryDataModule
from vaelab.data.cifar10 import CIFAR10
from vaelab.data.colour_objects import ColourObjects
from vaelab.data.digits import Digits
from vaelab.data.dsprites import DSprites
from vaelab.data.folder import ImageFolder
from vaelab.data.mnist import MNIST, FashionMNIST
from vaelab.data.shapes2d import Shapes2D

__all__ = ["InMemoryDataModule", "ArrayData", "CIFAR10", "Digits", "FashionMNIST", "ImageFolder", "MNIST"]
__all__ += ["ColourObjects", "DSprites", "Shapes2D"]  # data with ground-truth factors (vaelab.data.factors)
