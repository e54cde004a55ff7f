"""denoscope: train blind denoising UNets and open them up."""

__version__ = "0.1.0"
