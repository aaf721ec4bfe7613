"""Pacing: how often to try again, how many connections a host gets, how fast bytes come.

``retry`` decides whether and when to retry (pure), ``retrying`` runs the retry loop;
``hostpolicy`` is a host's AIMD limit and Retry-After deadline (pure), ``hosts`` makes
connections wait for it (``Hosts`` for a run, ``Slot`` for one connection); ``bucket``
is the bandwidth cap; ``speed`` the ``min_speed`` floor.

May import: aiodl._exceptions
"""
