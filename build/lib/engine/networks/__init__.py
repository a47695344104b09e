"""The networks the painters steer or train, and how their official files are read.

Painters (``engine/generators/``) hold what is optimized; these modules hold what is loaded.
"""
