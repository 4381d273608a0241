"""The page at ``/`` of every metrics listener: the process's own spend, read from its Recorder (no Prometheus).

``summary.py`` turns the aggregates into one JSON document at request time, ``history.py`` keeps the last hour
per minute (bounded), ``serve.py`` routes ``/``, ``/page.js``, ``/page.css`` and ``/api/summary`` for the in-app
WSGI server and the agent's handler. Nothing here runs on a Gemini call.
"""
