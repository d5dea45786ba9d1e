"""From inputs to training splits: downloads, the sample sheet, genome and annotation, the
expression table, reads to BAM, counting in bins, labels and the split."""
