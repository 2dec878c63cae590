"""`tunesmith demo`: the main job on the embedded default, with no GPU, no Ollama and no network."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/demo"), show_default=True,
              help="Run folder for every artifact of the demo.")
def demo(out: Path) -> None:
    """Package the embedded SmolLM2-135M-Instruct into Q4_K_M GGUF + Modelfile + quality report + model card.

    Needs no GPU, no Ollama and no network; re-running replaces the demo package once the new one is complete.
    """
    from tunesmith.commands.package import print_package_summary
    from tunesmith.console import out as console, progress
    from tunesmith.packager.embedded import EMBEDDED_HUB_ID, EMBEDDED_LICENSE, embedded_base_dir
    from tunesmith.packager.package import PackageSpec, build_package

    reporter = progress()
    spec = PackageSpec(base=embedded_base_dir(progress=reporter), out=out / "package", name="smollm2-demo",
                       base_model_id=EMBEDDED_HUB_ID, license=EMBEDDED_LICENSE, force=True)
    result = build_package(spec, progress=reporter)
    print_package_summary(result)
    console.print(f"[bold green]demo package ready:[/bold green] {result.path}")
