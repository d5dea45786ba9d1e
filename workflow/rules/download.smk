rule download:
    """Fetch one source (path, file://, http://, https://), retried, resumed and checked."""
    output:
        downloaded("{name}")
        if config["downloads"]["keep"]
        else temp(downloaded("{name}")),
    log:
        f"{LOGS}/download/{{name}}.log",
    conda:
        "../../envs/attentivechrome.yaml"
    resources:
        network=1,
    params:
        source=lambda wildcards: DOWNLOAD_SOURCES[wildcards.name],
        sha256=lambda wildcards: SHA256.get(wildcards.name),
        retries=config["downloads"]["retries"],
        timeout=config["downloads"]["timeout"],
    script:
        "../scripts/download.py"
