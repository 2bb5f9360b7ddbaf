"""The server layer: what gunicorn.conf.py's settings and hooks call, in the master and workers."""
