"""`tiered-cache demo`: a LangChain support bot on the embedded cache, over a realistic workload.

A package of its own, outside the adapter it runs: `tiered_cache_demo.cli.register` adds the
`demo` command to the `tiered-cache` CLI through the `tiered_cache.cli` entry point group (the
core never imports it), and `tiered_cache_demo.demo` is the app and its workload.
"""
