# `snakemake` from the repository root runs the workflow. workflow/Snakefile is its entry
# point (what the Snakemake workflow catalogue and a `module` read); this file includes it,
# so that the repository has the layout it documents. Paths in workflow/ stay relative to
# the files they are written in, and config/config.yaml to the working directory.


include: "workflow/Snakefile"


# A rule defined in an included file is never the default target, and workflow/Snakefile
# leaves `default_target:` off `all` so as not to take over a Snakefile that uses it as a
# module: name it here, which keeps the DAG (and its job names) as workflow/Snakefile's.
workflow.default_target = "all"
