"""What members do with jobs, however they ask: a command, a button or a reaction."""
