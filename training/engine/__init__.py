"""The pure ML side of training: config, data checks, trainer building, progress callback, adapter export.

No Django ORM in here: plain dataclasses in and out, so it runs in a worker, a script or a test alike.
"""
