"""Our HF → GGUF converter against llama.cpp's, each followed by the same Q4_K_M quantize: time and peak memory.

Every step runs in its own subprocess; peak RSS is that process's own (os.wait4). Prints a markdown table of ratios
(ours / llama.cpp; below 1.0 is better) and whether the f16 tensors are byte-identical; --json PATH writes the results
and the ratios (bench/report.py).
Usage: .venv/bin/python bench/convert.py [--skip-1b] [--repeats 2] [--work DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import check_row, ratio_row, versions, write_json
from tests.fixtures.reference_convert import REFERENCE_DIR

_STEPS = {
    "ours": "from tunesmith.packager import convert_to_gguf; import sys; convert_to_gguf(sys.argv[1], sys.argv[2])",
    "reference": (
        "import sys; sys.path.insert(0, sys.argv[3]); import convert_hf_to_gguf; "
        "sys.argv = ['convert_hf_to_gguf.py', sys.argv[1], '--outfile', sys.argv[2], '--outtype', 'f16']; "
        "convert_hf_to_gguf.main()"
    ),
    "compare": f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
    "from bench.convert import _same_tensors; "
    "sys.exit(0 if _same_tensors(sys.argv[1], sys.argv[2]) else 3)",
    "random-1b": f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
    "from bench.convert import _random_llama_1b; from pathlib import Path; "
    "_random_llama_1b(Path(sys.argv[1]))",
    "quantize": (
        "import sys, llama_cpp; p = llama_cpp.llama_model_quantize_default_params(); "
        "p.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M; p.nthread = 2; "
        "rc = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), p); sys.exit(rc)"
    ),
}


def _run(step: str, *args: str) -> tuple[float, float]:
    """Run one step in a fresh interpreter; return (seconds, peak RSS in MiB) of that process."""
    # Everything heavy runs in children, so the parent stays small: a forked child's peak RSS starts at the
    # parent's size at fork.
    env = dict(os.environ)
    if step == "reference":
        env["PYTHONPATH"] = str(REFERENCE_DIR / "gguf-py")
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _STEPS[step], *args, str(REFERENCE_DIR)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode == 3 and step == "compare":
        return 0.0, -1.0
    if proc.returncode != 0:
        raise RuntimeError(f"{step} failed:\n{stderr.decode()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024


def _same_tensors(a: Path, b: Path) -> bool:
    import gguf

    ta = {t.name: t for t in gguf.GGUFReader(a).tensors}
    tb = {t.name: t for t in gguf.GGUFReader(b).tensors}
    return ta.keys() == tb.keys() and all(
        ta[n].tensor_type == tb[n].tensor_type and bytes(ta[n].data) == bytes(tb[n].data) for n in ta
    )


def _random_llama_1b(target: Path) -> Path:
    """A ~1B-parameter llama with random bf16 weights and SmolLM2's tokenizer, written once and reused."""
    if (target / "model.safetensors").is_file():
        return target
    import torch
    from safetensors.torch import save_file

    from tunesmith.embedded_base import embedded_base_dir

    source = embedded_base_dir()
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
        if (source / name).is_file():
            shutil.copy(source / name, tmp / name)
    hidden, layers, ffn, heads, kv_heads, vocab = 2048, 20, 5632, 32, 4, 49152
    config = json.loads((source / "config.json").read_text())
    config.update(
        hidden_size=hidden,
        num_hidden_layers=layers,
        intermediate_size=ffn,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        vocab_size=vocab,
        tie_word_embeddings=True,
        torch_dtype="bfloat16",
        head_dim=hidden // heads,
    )
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    generator = torch.Generator().manual_seed(0)
    kv = kv_heads * hidden // heads

    def rand(*shape: int) -> torch.Tensor:
        return (torch.randn(*shape, generator=generator) * 0.02).to(torch.bfloat16)

    tensors = {"model.embed_tokens.weight": rand(vocab, hidden), "model.norm.weight": rand(hidden) + 1}
    for i in range(layers):
        p = f"model.layers.{i}."
        tensors.update(
            {
                p + "self_attn.q_proj.weight": rand(hidden, hidden),
                p + "self_attn.k_proj.weight": rand(kv, hidden),
                p + "self_attn.v_proj.weight": rand(kv, hidden),
                p + "self_attn.o_proj.weight": rand(hidden, hidden),
                p + "mlp.gate_proj.weight": rand(ffn, hidden),
                p + "mlp.up_proj.weight": rand(ffn, hidden),
                p + "mlp.down_proj.weight": rand(hidden, ffn),
                p + "input_layernorm.weight": rand(hidden) + 1,
                p + "post_attention_layernorm.weight": rand(hidden) + 1,
            }
        )
    save_file(tensors, tmp / "model.safetensors", metadata={"format": "pt"})
    del tensors
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def bench(model: Path, work: Path, repeats: int) -> dict:
    """Seconds and peak MiB of each side's convert and quantize (fastest of `repeats` runs), and whether the two f16
    files hold the same tensors."""
    work.mkdir(parents=True, exist_ok=True)
    f16 = {who: work / f"{model.name}-{who}-f16.gguf" for who in ("ours", "reference")}
    steps = {(who, "convert"): (who, str(model), str(f16[who])) for who in ("ours", "reference")}
    steps |= {
        (who, "quantize"): ("quantize", str(f16[who]), str(work / f"{model.name}-{who}-q4km.gguf"))
        for who in ("ours", "reference")
    }
    results: dict[tuple[str, str], tuple[float, float]] = {}
    # Shared machines are noisy: alternate who goes first and keep each step's fastest run.
    for repeat in range(repeats):
        for step in ("convert", "quantize"):
            for who in ("ours", "reference") if repeat % 2 == 0 else ("reference", "ours"):
                run = _run(*steps[who, step])
                if (who, step) not in results or run[0] < results[who, step][0]:
                    results[who, step] = run
    identical = _run("compare", str(f16["ours"]), str(f16["reference"]))[1] >= 0
    for path in work.glob(f"{model.name}-*.gguf"):
        path.unlink()
    sides = {}
    for who in ("ours", "reference"):
        sides[who] = {
            step: {"seconds": results[who, step][0], "peak_mib": results[who, step][1]}
            for step in ("convert", "quantize")
        }
        sides[who]["total"] = {
            "seconds": sum(results[who, s][0] for s in ("convert", "quantize")),
            "peak_mib": max(results[who, s][1] for s in ("convert", "quantize")),
        }
    return {"model": model.name, **sides, "identical": identical}


def _table_rows(result: dict) -> list[str]:
    rows = []
    for step in ("convert", "quantize", "total"):
        ours, ref = result["ours"][step], result["reference"][step]
        rows.append(
            f"| {result['model']} | {step} | {ours['seconds']:.1f} | {ref['seconds']:.1f} | "
            f"{ours['seconds'] / ref['seconds']:.2f}x | {ours['peak_mib']:.0f} | {ref['peak_mib']:.0f} | "
            f"{ours['peak_mib'] / ref['peak_mib']:.2f}x | {'yes' if result['identical'] else 'NO'} |"
        )
    return rows


def _ratio_rows(result: dict) -> list[dict]:
    """The converter against llama.cpp's, held to being no slower and no heavier; the quantize step is the same
    llama.cpp call on both sides, so only the total carries it."""
    anchor, model = "llama.cpp convert_hf_to_gguf.py", result["model"]
    ours, ref = result["ours"], result["reference"]
    return [
        ratio_row(
            "convert",
            f"{model} f16 convert time",
            "s",
            ours["convert"]["seconds"],
            ref["convert"]["seconds"],
            anchor,
            "lower",
            1.0,
        ),
        ratio_row(
            "convert",
            f"{model} f16 convert peak RSS",
            "MiB",
            ours["convert"]["peak_mib"],
            ref["convert"]["peak_mib"],
            anchor,
            "lower",
            1.0,
        ),
        ratio_row(
            "convert",
            f"{model} convert + Q4_K_M time",
            "s",
            ours["total"]["seconds"],
            ref["total"]["seconds"],
            anchor,
            "lower",
            1.0,
        ),
        check_row("convert", f"{model} f16 tensors identical", result["identical"], anchor),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-1b", action="store_true", help="only the SmolLM2-135M folder")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "bench", help="scratch folder")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each step; the fastest counts")
    parser.add_argument("--json", type=Path, help="write the results and ratios here")
    args = parser.parse_args()
    models = [
        Path(
            subprocess.check_output(
                [
                    sys.executable,
                    "-c",
                    "from tunesmith.embedded_base import embedded_base_dir; print(embedded_base_dir())",
                ],
                text=True,
            ).strip()
        )
    ]
    if not args.skip_1b:
        _run("random-1b", str(args.work / "random-llama-1b"))
        models.append(args.work / "random-llama-1b")
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    print(
        f"machine: {os.cpu_count()} CPUs ({cpu}); f16 convert, then Q4_K_M quantize (llama_model_quantize); "
        f"fastest of {args.repeats} runs per step\n"
    )
    print(
        "| model | step | ours s | llama.cpp s | time ratio | ours peak MiB | llama.cpp peak MiB | RSS ratio "
        "| f16 tensors identical |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    results = []
    for model in models:
        results.append(bench(model, args.work, args.repeats))
        for row in _table_rows(results[-1]):
            print(row, flush=True)
    if args.json:
        settings = {"models": [m.name for m in models], "repeats": args.repeats, "quant": "Q4_K_M"}
        write_json(
            args.json,
            "convert",
            settings,
            results,
            [row for r in results for row in _ratio_rows(r)],
            versions("gguf", "llama-cpp-python", "numpy", "safetensors", "torch", "transformers"),
        )


if __name__ == "__main__":
    main()
