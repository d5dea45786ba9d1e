"""Generators of simulated data in the pipeline's input formats (not part of the pipeline).

`demo` writes resources/demo/ (Roadmap's formats), `own_demo` resources/own_demo/ (a
sample sheet, BAMs, a GTF, a TPM table); each folder's make_*.py script runs one of them.
`rehearsal` writes one REMC-size cell type for benchmarks/rehearsal.py.
"""
