"""The REST API's shared parts: token authentication, workspace scoping and
roles, JSON errors, throttling. Each app's resources live in its own
``<app>/api.py``; all of them call the same services the pages call."""
