"""Shipped sweep files (*.yaml); econ_obs.config reads and validates them."""
