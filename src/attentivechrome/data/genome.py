"""Chromosome sizes, and the one rule that matches chromosome names between files.

Naming rule: the chromosome sizes name the genome. A chromosome named elsewhere (the reads,
a BAM header, the annotation) is the sizes' chromosome of the same name, or else the one
that is the same up to a leading `chr` and the mitochondrion's two spellings (`chrM`/`MT`):
`1` is `chr1`, `chrX` is `X`, `MT` is `chrM` and `chrMT` is `M`. Names matching nothing
(e.g. unplaced contigs spelt differently by UCSC and Ensembl) are left out and logged by
the step that reads them.

A file that gives lengths (a BAM's @SQ lines) must give every matched chromosome the
sizes' length: the same names with other lengths are another assembly (hg19 against hg38,
or another species with the same `chr` names), whose reads would be counted at the wrong
places without any other sign.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from attentivechrome.errors import InputError

#: Genomes whose sizes ship with pybedtools, usable by name as `sources.chrom_sizes`.
BUILTIN_GENOMES = ("hg19", "hg38", "mm10")


def _naming_key(name: str) -> str:
    """A chromosome's name without `chr`, the mitochondrion always `MT` (Roadmap's gene_info
    writes `1` and `MT` where its reads and hg19 write `chr1` and `chrM`)."""
    bare = name[3:] if name.startswith("chr") else name
    return "MT" if bare == "M" else bare


def match_chroms(names: Iterable[str], sizes: dict[str, int]) -> dict[str, str]:
    """Each of `names` that names a chromosome of `sizes`, mapped to the sizes' spelling."""
    by_key: dict[str, str | None] = {}
    for chrom in sizes:
        key = _naming_key(chrom)
        by_key[key] = None if key in by_key else chrom  # two spellings in sizes: ambiguous
    matched = {}
    for name in names:
        name = str(name)
        if name in sizes:
            matched[name] = name
        elif by_key.get(_naming_key(name)):
            matched[name] = by_key[_naming_key(name)]
    return matched


def check_lengths(
    path: str | Path, names: Iterable[str], lengths: Iterable[int], sizes: dict[str, int]
) -> None:
    """Raise InputError at the first chromosome of `names` (with `lengths`, as a BAM header
    gives them) that matches one of `sizes` but has another length."""
    named = dict(zip(map(str, names), map(int, lengths), strict=True))
    for name, chrom in match_chroms(named, sizes).items():
        if named[name] != sizes[chrom]:
            spelt = name if name == chrom else f"{name} ({chrom} in the sizes)"
            mitochondrion = (
                "; hg19's chrM is 16571 bp, the rCRS of GRCh37 (b37) and hg38 16569 bp"
                if _naming_key(chrom) == "MT"
                else ""
            )
            raise InputError(
                path,
                f"chromosome {spelt} is {named[name]} bp long in its header but "
                f"{sizes[chrom]} bp in the chromosome sizes: the reads were aligned to another "
                "assembly (align them to the genome of sources.chrom_sizes, or name that "
                f"genome's sizes{mitochondrion})",
            )


def names_example(names: Iterable[str], limit: int = 5) -> str:
    """A few names of a file, for messages saying which names each file uses."""
    names = list(dict.fromkeys(map(str, names)))
    return ", ".join(names[:limit]) + (", ..." if len(names) > limit else "")


def no_shared_names(path: str | Path, names: Iterable[str], sizes: dict[str, int]) -> InputError:
    """The error for a file whose chromosome names match none of the sizes'."""
    return InputError(
        path,
        f"none of its chromosome names ({names_example(names)}) matches a chromosome of the "
        f"chromosome sizes ({names_example(sizes)}), even up to a 'chr' prefix and chrM/MT: "
        "do the files come from the same genome?",
    )


def load_chrom_sizes(spec: str | Path) -> dict[str, int]:
    """Chromosome sizes from a built-in genome (pybedtools') or a sizes or .fai file."""
    if str(spec) in BUILTIN_GENOMES:
        from pybedtools import genome_registry

        genome = getattr(genome_registry, str(spec))
        return {chrom: int(end) for chrom, (_, end) in genome.items()}
    return read_chrom_sizes(Path(spec))


def read_chrom_sizes(path: Path) -> dict[str, int]:
    """Name and size from the first two columns: a sizes file or a FASTA index (.fai)."""
    sizes: dict[str, int] = {}
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split()
            if len(fields) < 2:
                raise InputError(path, "expected 'chromosome<TAB>size'", line=number)
            chrom, size = fields[0], fields[1]
            if not size.isdigit() or int(size) <= 0:
                raise InputError(path, f"size {size!r} is not a positive integer", line=number)
            if chrom in sizes:
                raise InputError(path, f"chromosome {chrom} is listed twice", line=number)
            sizes[chrom] = int(size)
    if not sizes:
        raise InputError(path, "no chromosome sizes found")
    return sizes


def write_chrom_sizes(sizes: dict[str, int], path: Path) -> None:
    from attentivechrome.io import atomic_write_text

    atomic_write_text(path, "".join(f"{chrom}\t{size}\n" for chrom, size in sizes.items()))
