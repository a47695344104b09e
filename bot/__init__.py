"""The dreambot process: configuration, the command line, and (later) the Discord client. Never imports torch."""
