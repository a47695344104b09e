"""Whether a request may be queued: the server's settings and limits, advanced options, attachments, refusals."""
