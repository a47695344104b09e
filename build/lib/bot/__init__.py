"""The bot process: the command line, the configuration, the Discord client and the job queue. Never imports torch."""
