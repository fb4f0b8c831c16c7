"""value-probes: DVC pipeline stages, one module per stage (`python -m pipeline.<stage>`)."""
