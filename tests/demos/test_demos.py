"""Both shipped demos (resources/demo, resources/own_demo) regenerate byte for byte, hold
only what their generator writes beside their docs, and stay small; gzip files carry no
name or time.

Each demo is regenerated once per session; the checks of its contents are in
test_demo.py and test_own_demo.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import REPO, assert_reproducible_gzip
from simulate import demo, own_demo


@dataclass(frozen=True)
class Demo:
    name: str
    shipped: Path
    write: Callable[[Path], list[Path]]  # the generator: writes the demo, returns its files
    simulate: Callable[[int], object]  # seed -> the simulated data, with its .expression
    script: str  # the shipped script that runs the generator
    n_files: int  # files the generator writes
    gzipped: Callable[[Path], list[Path]]  # shipped folder -> some of its gzip files


def _own_demo_gzipped(folder: Path) -> list[Path]:
    bed = next(f for f in own_demo.READ_FILES if f.kind == "bed")
    return [folder / own_demo.GTF_NAME, own_demo.read_path(folder, bed)]


DEMOS = [
    Demo(
        "demo",
        REPO / "resources" / "demo",
        demo.write_demo,
        lambda seed: demo.simulate(demo.DemoConfig(seed=seed)),
        "make_demo.py",
        3 + len(demo.CELLS) * len(demo.MARKS),
        lambda folder: [folder / demo.RPKM_NAME, demo.tagalign_path(folder, "DEMO1", "H3K4me3")],
    ),
    Demo(
        "own_demo",
        REPO / "resources" / "own_demo",
        own_demo.write_own_demo,
        lambda seed: own_demo.simulate(own_demo.OwnDemoConfig(seed=seed)),
        "make_own_demo.py",
        # annotation, expression, FASTA index, sheet; the reads; one .bai per single-end BAM
        4 + len(own_demo.READ_FILES) + sum(f.kind == "bam" for f in own_demo.READ_FILES),
        _own_demo_gzipped,
    ),
]


@pytest.fixture(scope="session", params=DEMOS, ids=lambda spec: spec.name)
def spec(request) -> Demo:
    return request.param


@pytest.fixture(scope="session")
def regenerated(spec, tmp_path_factory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp(spec.name)
    return out, spec.write(out)


@pytest.mark.slow
def test_regeneration_is_byte_identical(spec, regenerated):
    out, written = regenerated
    assert len(written) == spec.n_files
    for path in written:
        relative = path.relative_to(out)
        assert (spec.shipped / relative).read_bytes() == path.read_bytes(), relative


@pytest.mark.slow
def test_shipped_folder_holds_only_generated_files_and_docs(spec, regenerated):
    out, written = regenerated
    expected = {path.relative_to(out) for path in written} | {Path("README.md"), Path(spec.script)}
    shipped = {
        path.relative_to(spec.shipped)
        for path in spec.shipped.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert shipped == expected


def test_gzip_headers_carry_no_name_or_time(spec):
    assert_reproducible_gzip(spec.gzipped(spec.shipped))


@pytest.mark.slow
def test_total_size_is_small(regenerated):
    _, written = regenerated
    assert sum(path.stat().st_size for path in written) <= 3_000_000


@pytest.mark.slow
def test_another_seed_gives_another_dataset(spec):
    first, second = spec.simulate(1), spec.simulate(2)
    assert not first.expression.equals(second.expression)
