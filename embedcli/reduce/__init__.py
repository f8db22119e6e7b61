"""`reduce` as a library: fit or apply a reducer, save it, draw a map. Entry point: `run_reduce`."""
