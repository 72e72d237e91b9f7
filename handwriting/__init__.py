"""handwriting: read handwritten text lines and pages with a CNN + stacked LSTM + CTC model."""

__version__ = "0.1.0"
