"""WSGI entry point: `gunicorn wsgi:app`."""

import gc

from tracker import create_app

app = create_app()

# What the app has set up lives as long as the process: kept out of the garbage collector's
# sight, so that its full collections do not walk it each time (bench/: ~75 ms a collection,
# ~2 % of a click).
gc.freeze()
