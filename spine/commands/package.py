"""`tunesmith package`: a base model (and optionally a LoRA adapter) → a folder Ollama and llama.cpp can run."""

from __future__ import annotations

from pathlib import Path

import click

from tunesmith.commands.options import progress_json_option
from tunesmith.errors import ConfigError
from tunesmith.overrides import split_assignment
from tunesmith.user_files import read_text_file

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, exists=True, path_type=Path)


def _parse_params(values: tuple[str, ...]) -> dict[str, object]:
    params: dict[str, object] = {}
    stops: list[str] = []
    for item in values:
        example = "--param temperature=0.7 (repeat --param stop=... for stops)"
        key, value = split_assignment(item, flag="--param", example=example)
        if key == "stop":
            stops.append(value)
            params["stop"] = stops
        else:
            params[key] = value
    return params


def _flag_file(path: Path, flag: str) -> str:
    return read_text_file(
        path, what=f"the {flag} file", error=ConfigError, hint=f"Pass a readable text file with {flag}."
    )


@click.command()
@click.option(
    "--run",
    "run_dir",
    type=_DIR,
    default=None,
    metavar="DIR",
    help="A run folder whose training finished: package its adapter as the project recorded in it "
    "(project.yaml) says, as `tunesmith run` would; takes no other option.",
)
@click.option(
    "--base",
    metavar="DIR",
    help="Hugging Face model folder (config.json, tokenizer, *.safetensors), or `embedded` for the "
    "built-in SmolLM2-135M-Instruct.",
)
@click.option(
    "--adapter",
    type=_DIR,
    default=None,
    metavar="DIR",
    help="PEFT LoRA adapter folder to merge into the base first (e.g. runs/NAME/adapter).",
)
@click.option(
    "--as-adapter",
    is_flag=True,
    help="Keep the --adapter separate instead of merging it: the package holds the base GGUF(s) and a "
    "GGUF LoRA adapter, and the Modelfile says FROM base + ADAPTER.",
)
@click.option("--out", type=_DIR, metavar="DIR", help="Package folder to create.")
@click.option(
    "--name", default=None, help="Model name used for the files and in the card (default: the --out folder name)."
)
@click.option(
    "--quant",
    "quants",
    multiple=True,
    default=("Q4_K_M",),
    show_default=True,
    metavar="TYPE",
    help="llama.cpp quantization type; repeat for several files (Q4_K_M, Q5_K_M, Q6_K, Q8_0, F16, ...). "
    "The first one is what the Modelfile runs.",
)
@click.option("--system", default=None, help="System prompt written into the Modelfile (SYSTEM).")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Modelfile PARAMETER overriding the chat family's default (temperature=0.7, num_ctx=4096, "
    "stop=...); repeat for several.",
)
@click.option(
    "--template",
    "template_file",
    type=_FILE,
    default=None,
    metavar="FILE",
    help="Ollama Go template to use instead of the one derived from the tokenizer's chat template.",
)
@click.option(
    "--chat-template",
    default=None,
    metavar="NAME|FILE",
    help="Jinja chat template the adapter was trained with instead of the base's own (`chat_template:` "
    "in the project): chatml, qwen2.5, qwen3, or a file. The GGUF, the Modelfile and the report "
    "carry it.",
)
@click.option("--base-model-id", default=None, metavar="USER/REPO", help="Hub id of the base model, for the card.")
@click.option("--license", "license_id", default=None, metavar="ID", help="License id for the card (e.g. apache-2.0).")
@click.option(
    "--eval-text",
    type=_FILE,
    default=None,
    metavar="FILE",
    help="Held-out text the quality report measures perplexity on (default: built-in English prose).",
)
@click.option("--eval-prompt", default=None, metavar="TEXT", help="Chat prompt the stop-token check generates from.")
@click.option("--force", is_flag=True, help="Replace an existing --out folder (only once the new package is complete).")
@progress_json_option
def package(
    run_dir: Path | None,
    base: str | None,
    adapter: Path | None,
    as_adapter: bool,
    out: Path | None,
    name: str | None,
    quants: tuple[str, ...],
    system: str | None,
    params: tuple[str, ...],
    template_file: Path | None,
    chat_template: str | None,
    base_model_id: str | None,
    license_id: str | None,
    eval_text: Path | None,
    eval_prompt: str | None,
    force: bool,
    progress_json: Path | None,
) -> None:
    """Merge, convert to GGUF, quantize, and write a Modelfile, a quality report and a model card.

    \b
    Example:
      tunesmith package --base embedded --adapter runs/demo/adapter --out runs/demo/package
      tunesmith package --base embedded --adapter runs/demo/adapter --as-adapter --out runs/demo/lora-package
      tunesmith package --run runs/demo          # as runs/demo/project.yaml says, into runs/demo/package
      ollama create demo -f runs/demo/package/Modelfile && ollama run demo
    """
    from tunesmith.console import progress_to
    from tunesmith.embedded_base import resolve_base
    from tunesmith.modelfiles.base_templates import resolve_chat_template
    from tunesmith.packager.package import PackageSpec, build_package

    if run_dir is not None:
        _package_run(run_dir, progress_json)
        return
    if base is None or out is None:
        flag = "--base" if base is None else "--out"
        raise click.UsageError(f"Missing option '{flag}' (or give --run DIR to package a run).")

    if as_adapter and adapter is None:
        # Before --base is resolved: `embedded` may first build its 16-bit folder, which takes a while.
        raise ConfigError(
            "--as-adapter keeps an adapter separate, and no --adapter was given",
            where="--as-adapter",
            hint="Pass the LoRA adapter folder with --adapter DIR (e.g. runs/NAME/adapter), or drop "
            "--as-adapter to package the base alone.",
        )
    with progress_to(progress_json) as (reporter, _):
        spec = PackageSpec(
            base=resolve_base(base, progress=reporter),
            out=out,
            adapter=adapter,
            name=name,
            quants=quants,
            system=system,
            parameters=_parse_params(params),
            template_file=template_file,
            chat_template=resolve_chat_template(chat_template, "--chat-template") if chat_template else None,
            base_model_id=base_model_id,
            license=license_id,
            eval_text=_flag_file(eval_text, "--eval-text") if eval_text else None,
            eval_prompt=eval_prompt,
            force=force,
            as_adapter=as_adapter,
        )
        result = build_package(spec, progress=reporter)
    print_package_summary(result)


def _package_run(run_dir: Path, progress_json: Path | None) -> None:
    """`--run DIR`: the run's own package step, alone; any other option given is refused, not ignored."""
    from tunesmith.console import out, progress_to, quiet_libraries
    from tunesmith.pipeline import package_run

    context = click.get_current_context()
    for param in context.command.params:
        if param.name not in ("run_dir", "progress_json") and (
            context.get_parameter_source(param.name) is click.core.ParameterSource.COMMANDLINE
        ):
            raise ConfigError(
                f"{param.opts[0]} cannot be combined with --run",
                where="--run",
                hint="--run packages as the run's project.yaml says; change the project and `tunesmith run` it, or "
                "package with --base, --adapter and --out instead.",
            )
    quiet_libraries()
    with progress_to(progress_json) as (reporter, _):
        result, built = package_run(run_dir, progress=reporter)
    print_package_summary(result)
    if not built:
        out.print("(the recorded package was current: nothing was rebuilt)")


def print_package_summary(result) -> None:
    """The files, the quality checks and how to run the package."""
    from rich.table import Table

    from tunesmith.console import out

    files = Table(title=f"package {result.path}", show_header=True)
    files.add_column("file")
    files.add_column("size", justify="right")
    for path in result.files:
        files.add_row(path.name, f"{path.stat().st_size / 2**20:.1f} MiB")
    out.print(files)
    checks = Table(title="quality", show_header=True)
    for column in ("check", "value", "threshold", "ok"):
        checks.add_column(column)
    for check in result.quality.get("checks", []):
        checks.add_row(
            check["name"],
            _fmt(check.get("value")),
            _fmt(check.get("threshold")),
            "[green]yes[/green]" if check.get("passed") else "[red]no[/red]",
        )
    out.print(checks)
    out.print(f"chat template: {result.template_note}")
    out.print(f"run it:  ollama create {result.name} -f {result.path / 'Modelfile'} && ollama run {result.name}")


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
