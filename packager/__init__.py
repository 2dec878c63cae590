"""tunesmith.packager: adapter + base → merged 16-bit model → GGUF → quantized package with Modelfile and report."""

from tunesmith.packager.convert import SUPPORTED_ARCHITECTURES, convert_to_gguf

__all__ = ["SUPPORTED_ARCHITECTURES", "convert_to_gguf"]
