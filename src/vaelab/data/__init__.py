"""Data sources, one LightningDataModule per `conf/data/*.yaml`."""

from vaelab.data.array import ArrayData
from vaelab.data.base import InMemoryDataModule
from vaelab.data.cifar10 import CIFAR10
from vaelab.data.digits import Digits
from vaelab.data.folder import ImageFolder
from vaelab.data.mnist import MNIST, FashionMNIST

__all__ = ["InMemoryDataModule", "ArrayData", "CIFAR10", "Digits", "FashionMNIST", "ImageFolder", "MNIST"]
