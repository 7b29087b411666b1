"""Session files, transcripts and their durability."""
