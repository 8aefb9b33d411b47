"""The money pages, one module a page (the URLs name them)."""
