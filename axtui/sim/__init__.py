"""`axtui sim serve`: a fault-injecting upstream speaking real vendor wire formats, driven by a
scenario file (scenario.py) and a live control endpoint."""
