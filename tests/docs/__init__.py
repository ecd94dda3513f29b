"""Tests that run the documentation's code."""
