"""Shipped sweep files (*.yaml) and the YAML reader that econ_obs.config validates them with."""
