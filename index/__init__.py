"""Data in: load articles, chunk them with exact offsets, embed, and store in Chroma."""
