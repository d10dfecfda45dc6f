"""PyAV video data: datasets, clip samplers, transforms and the synthetic temporal benchmark."""
