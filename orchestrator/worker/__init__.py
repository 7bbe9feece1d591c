"""Celery: the app, its queues, the runtime a worker holds, and thin tasks."""
