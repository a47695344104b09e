"""Remote workers over NATS JetStream: the connection (``link.py``), the bot's side (``dispatch.py``) and
the ``dreambot worker`` process (``worker.py``)."""
