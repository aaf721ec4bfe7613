"""FTP: ``wire`` reads replies and paths (pure), ``listing`` parses folder listings
(pure), ``control`` is one control connection, ``connection`` a logged-in connection and
the body of a RETR on it, ``folders`` enters and lists remote folders, and ``driver`` the
FTP driver on top.

May import: aiodl._credentials, aiodl._exceptions, aiodl._network, aiodl._protocols.driver,
aiodl._protocols.entries, aiodl._urls
"""
