"""Pandera data contracts (polars backend), one module per artifact."""
