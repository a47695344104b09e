"""What may be shown: the picture check, and what happens to what it flags."""
