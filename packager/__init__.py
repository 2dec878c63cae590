"""tunesmith.packager: adapter + base → merged 16-bit model → GGUF → quantized package with Modelfile and report."""

from tunesmith.packager.adapter_check import check_adapter
from tunesmith.packager.adapter_gguf import ADAPTER_OUT_TYPES, check_adapter_for_gguf, convert_adapter_to_gguf
from tunesmith.packager.convert import SUPPORTED_ARCHITECTURES, convert_to_gguf
from tunesmith.packager.merge import MERGE_DTYPES, merge_adapter
from tunesmith.packager.quality import Check, QualityReport, measure_quality
from tunesmith.packager.quantize import QUANT_TYPES, QuantizeResult, normalize_quant, quantize_gguf

__all__ = [
    "ADAPTER_OUT_TYPES",
    "MERGE_DTYPES",
    "QUANT_TYPES",
    "SUPPORTED_ARCHITECTURES",
    "Check",
    "QualityReport",
    "QuantizeResult",
    "check_adapter",
    "check_adapter_for_gguf",
    "convert_adapter_to_gguf",
    "convert_to_gguf",
    "measure_quality",
    "merge_adapter",
    "normalize_quant",
    "quantize_gguf",
]
