"""What members see: the job's message (reporter, embeds, buttons), uploads, the pace of edits, replies and text."""
