"""lgfa-lite: five face-animation and face-editing methods on shared building blocks."""

__version__ = "0.1.0"
