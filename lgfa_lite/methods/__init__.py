"""The five methods, one module each, on the shared nets (`lgfa_lite.nets`) and trainer (`lgfa_lite.train`)."""
