"""The playground's writes: turns (chat), images (CogView), and who pays for a call."""
