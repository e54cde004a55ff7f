"""The network: normalisation layers (norms.py) and the blind UNet (unet.py)."""
