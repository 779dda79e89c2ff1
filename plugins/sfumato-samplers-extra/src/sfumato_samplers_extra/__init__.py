"""Extra samplers for sfumato's diffusers engine."""

__version__ = "0.1.0"
