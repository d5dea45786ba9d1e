"""Chromosome sizes and chromosome naming."""

from __future__ import annotations

from pathlib import Path

from .errors import InputError

#: Chromosome names in Roadmap's gene_info lack the `chr` prefix and call the
#: mitochondrion `MT`; the reads use UCSC names.
_SPECIAL_NAMES = {"MT": "chrM", "M": "chrM"}


def ucsc_chrom(name: str) -> str:
    """Return the UCSC (hg19) spelling of an Ensembl chromosome name."""
    name = str(name).strip()
    if name.startswith("chr"):
        return name
    return _SPECIAL_NAMES.get(name, f"chr{name}")


def load_chrom_sizes(spec: str | Path) -> dict[str, int]:
    """Chromosome sizes from `hg19` (shipped with pybedtools) or a two-column file."""
    if str(spec) == "hg19":
        from pybedtools import genome_registry

        return {chrom: int(end) for chrom, (_, end) in genome_registry.hg19.items()}
    return read_chrom_sizes(Path(spec))


def read_chrom_sizes(path: Path) -> dict[str, int]:
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
    from .io import atomic_write_text

    atomic_write_text(path, "".join(f"{chrom}\t{size}\n" for chrom, size in sizes.items()))
