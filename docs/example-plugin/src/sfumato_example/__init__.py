"""An example sfumato plugin: the ``gradient`` engine kind, the ``sepia`` adjustment, two samplers."""

__version__ = "0.1.0"
