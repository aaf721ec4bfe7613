"""HTTP(S): ``wire`` is HTTP/1.1 as pure functions (sans-IO, like h11), ``plain`` the
transport on our own sockets for ``http://`` and ``https://`` (TLS from
``aiodl._network.tls``), ``rules`` what a response must satisfy to be trusted (pure),
``listing`` an HTML index page read as a folder's entries (pure), ``folders`` fetching
one, and ``driver`` the HTTP driver on top.

May import: aiodl._credentials, aiodl._digests, aiodl._exceptions, aiodl._network,
aiodl._protocols.driver, aiodl._protocols.entries, aiodl._urls
"""
