"""Training, export and fixtures for the digitserve MNIST model (needs the `train` extra)."""
