"""Genome-browser files: coverage bigWigs (CPM), AttentiveChrome's attention and predictions
as tracks, and an IGV session and a UCSC track hub over them."""
