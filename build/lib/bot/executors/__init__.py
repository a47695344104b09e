"""Where jobs run: the local engine process (``local.py``) or remote GPU workers (``nats/``)."""
