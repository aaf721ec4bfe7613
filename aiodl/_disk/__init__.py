"""The destination: where bytes may land and how they become files.

``names`` makes server and URL names safe (pure); ``folders`` holds dest and its folders
open as descriptors; ``partfile`` writes, checks and renames one part file; ``commit``
flushes files in groups; ``hashing`` checks a saved file's digest; ``ranges`` are byte
ranges (pure); ``journal`` records what is on disk for resume; ``manifest`` records every
file of a job across runs.

May import: aiodl._credentials, aiodl._digests, aiodl._exceptions, aiodl._models
"""
