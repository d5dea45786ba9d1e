"""Small BAMs on the own-data demo's genome, written record by record with pysam, and
their records read back: what the tests of wrong inputs share."""

from __future__ import annotations

from pathlib import Path

import pysam

from helpers import REPO

OWN = REPO / "resources/own_demo"
# The own-data demo's genome (resources/own_demo/genome.fa.fai).
SIZES = {"chr1": 7_000_000, "chr2": 6_000_000, "chr3": 5_000_000, "chrM": 16_569}
SIZES["chrUn_KI270302v1"] = 2274


def write_bam(path: Path, records, header=None, sort: bool = True) -> Path:
    """Records (chrom index, position, flag, MAPQ[, CIGAR]); sorted and indexed unless not."""
    header = header or {
        "HD": {"VN": "1.6", "SO": "coordinate" if sort else "unsorted"},
        "SQ": [{"SN": c, "LN": n} for c, n in SIZES.items()],
    }
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for i, (tid, position, flag, mapq, *cigar) in enumerate(
            sorted(records) if sort else records
        ):
            record = pysam.AlignedSegment(out.header)
            record.query_name, record.flag = f"r{i}", flag
            record.reference_id, record.reference_start = tid, position
            record.mapping_quality = mapq
            record.cigarstring = cigar[0] if cigar else "36M"
            out.write(record)
    if sort:
        pysam.index(str(path))
    return path


def reheadered(src: Path, dest: Path, lengths: dict[str, int], sort: bool = True) -> Path:
    """A copy of `src` whose @SQ lines give `lengths` (another assembly's), maybe indexed."""
    with pysam.AlignmentFile(str(src), check_sq=False) as bam:
        header = bam.header.to_dict()
        for sq in header["SQ"]:
            sq["LN"] = lengths.get(sq["SN"], sq["LN"])
        with pysam.AlignmentFile(str(dest), "wb", header=header) as out:
            for record in bam.fetch(until_eof=True):
                out.write(pysam.AlignedSegment.from_dict(record.to_dict(), out.header))
    if sort:
        pysam.index(str(dest))
    return dest


def positions(bam: Path) -> list[tuple[int, int]]:
    with pysam.AlignmentFile(str(bam)) as handle:
        return [
            (r.reference_id, r.reference_start)
            for r in handle.fetch(until_eof=True)
            if not r.is_unmapped
        ]


def records_of(bam: Path) -> list[str]:
    return pysam.view(str(bam)).splitlines()


#: UCSC track and browser lines and a comment, as BED files from genome browsers start.
TRACK_LINES = b'track name="K27" description="my reads"\nbrowser position chr1:1-1000\n# hi\n'
