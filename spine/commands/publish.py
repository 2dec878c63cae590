"""`tunesmith publish`: a package folder → a Hugging Face Hub repo and/or a model on the Ollama registry."""

from __future__ import annotations

from pathlib import Path

import click

from tunesmith.commands.options import ollama_host_option


@click.command()
@click.argument("package_dir", metavar="PACKAGE_DIR", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--hf",
    "hf_repo",
    default=None,
    metavar="USER/REPO",
    help="Hugging Face repo to create (if needed) and commit the package to, with the `template`, "
    "`system` and `params` files `ollama run hf.co/USER/REPO` reads. The token comes from HF_TOKEN "
    "or `hf auth login`, and is never printed.",
)
@click.option(
    "--private/--public",
    default=True,
    show_default=True,
    help="Visibility of the Hub repo when it is created (an existing repo keeps its own).",
)
@click.option(
    "--ollama",
    "ollama_name",
    default=None,
    metavar="USER/NAME[:TAG]",
    help="Ollama name to create in your Ollama daemon and push to ollama.com (USER is your ollama.com "
    "user name; the tag defaults to latest).",
)
@ollama_host_option("Ollama daemon to use (default http://127.0.0.1:11434).")
@click.option(
    "--push/--no-push",
    default=True,
    show_default=True,
    help="Push to ollama.com after creating the model; --no-push only creates it locally.",
)
def publish(
    package_dir: Path, hf_repo: str | None, private: bool, ollama_name: str | None, ollama_host: str | None, push: bool
) -> None:
    """Release a package on the Hugging Face Hub and/or the Ollama registry.

    Names and the package are checked before anything is sent. Re-running after an interruption finishes the
    job: files the Hub already holds, blobs your daemon has and layers ollama.com has are not sent again.

    \b
    Example:
      tunesmith publish runs/demo/package --hf alice/smollm2-demo-GGUF --ollama alice/smollm2-demo
      ollama run hf.co/alice/smollm2-demo-GGUF:Q4_K_M   # or: ollama run alice/smollm2-demo
    """
    from tunesmith.console import out, progress
    from tunesmith.publish import publish_package

    results = publish_package(
        package_dir,
        hf=hf_repo,
        ollama=ollama_name,
        private=private,
        ollama_host=ollama_host,
        push=push,
        progress=progress(),
    )
    if "hf" in results:
        out.print(f"[bold green]Hugging Face:[/bold green] {results['hf']}")
        out.print(f"  run it:  ollama run hf.co/{hf_repo}")
        if private:
            out.print(
                "  (a private repo: add your Ollama public key, ~/.ollama/id_ed25519.pub, at "
                "https://huggingface.co/settings/keys so that Ollama may read it)"
            )
    if "ollama" in results:
        label = "Ollama registry" if push else "Ollama (local)"
        out.print(f"[bold green]{label}:[/bold green] {results['ollama']}")
        out.print(f"  run it:  ollama run {ollama_name}")
