"""The protocols: ``driver`` is the small interface every protocol implements (open a byte
range, describe the file); ``entries`` is what a folder listing holds; ``http/`` and
``ftp/`` are one package per protocol, and never import each other.

May import: aiodl._digests, aiodl._exceptions, aiodl._network
"""
