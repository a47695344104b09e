"""What the bot and the engine agree on: requests and events, limits and defaults, the model
registry, generator families and their options, prompt syntax and request validation.

Standard library and Pillow only. The bot process imports this package and never ``engine``, so
it never loads torch (``tests/contract/test_no_torch.py`` guards the boundary).
"""
