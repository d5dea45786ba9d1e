import sys
from pathlib import Path

# The package is imported from this checkout (scriptdir resolved: it is spelled
# workflow/rules/../scripts), so conda environments need not install it.
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))


from attentivechrome.logs import step_logging
from attentivechrome.report.multiqc_report import qc_multiqc

with step_logging(snakemake.log[0]):
    qc_multiqc(content=[Path(p) for p in snakemake.input], out=Path(snakemake.output[0]))
