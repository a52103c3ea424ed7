"""The metadata schema ``meta.*`` and every read and write of it: no module outside this package holds SQL on it.

schema — the tables and their versioned migrations (below the warehouse: cityshare.warehouse.connect applies it);
batches — gate decisions, their order and the batches raw views read; watermarks — database extract windows;
quality — rule results and their history; publications — published versions, publish status and build state.
"""
