"""Binary hashing for ANN search with deletion: USR-LSH, SimHash, super-bit LSH (seed 002),
and the exact-forget LSH k-NN of Amnesia (seed 004, sec. 3.2.3)."""
