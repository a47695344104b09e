"""The GPU side of dreambot: generators, perceptors and the CLIP-steered loop.

Importing the package is cheap; torch loads only when a module that needs it is imported.
"""
