"""The Jobs tab's per-kind views: each job kind gets the view made for it (see :mod:`gui.jobs.kinds`)."""
