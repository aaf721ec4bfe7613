"""The network backend, small like httpcore's: connecting (every address of a name, Happy
Eyeballs), TLS over a connected socket (``tls``, the stdlib ``ssl``), moving a socket's
bytes into a file (``sockcopy``, splice on Linux), and
giving the event loop its turn during long copies (``turns``).

May import: aiodl._credentials, aiodl._exceptions, aiodl._urls
"""
