"""Data sources, one LightningDataModule per `conf/data/*.yaml`."""

from vaelab.data.base import InMemoryDataModule
from vaelab.data.digits import Digits
from vaelab.data.mnist import MNIST, FashionMNIST

__all__ = ["InMemoryDataModule", "Digits", "FashionMNIST", "MNIST"]
