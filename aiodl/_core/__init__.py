"""The run: one ``download_many`` call from its sources to its Results.

``engine`` draws the sources and hands each file to a worker; ``context`` is what every
file of the run shares (handed down, never the engine itself); ``download`` is one
file's lifecycle (resumed, listed or fresh; checked, committed); ``transfer`` moves its
bytes over segments and mirrors (``pump`` copies one body, ``planner`` cuts segments,
``mirrors`` chooses among a file's URLs); ``treewalk`` walks folder URLs; ``drivers`` makes
the protocol drivers a run needs, and is the only module here that names a protocol.

May import: aiodl._config, aiodl._credentials, aiodl._digests, aiodl._disk,
aiodl._exceptions, aiodl._models, aiodl._network (turns), aiodl._pacing, aiodl._protocols,
aiodl._urls
"""
