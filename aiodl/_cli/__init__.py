"""The ``aiodl`` command: flags (``parser``), what to download (``inputs``), the download
options they make (``settings``), what is printed and written (``report``), and ``main``
(``command``).
"""
