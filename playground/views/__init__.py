"""The playground's pages: chat, streams, images (the URLs name them)."""
