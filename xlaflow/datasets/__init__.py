"""Datasets: MNIST (downloaded, verified, cached) and an offline handwritten-digits set."""
