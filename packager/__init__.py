"""tunesmith.packager: adapter + base → merged 16-bit model → GGUF → quantized package with Modelfile and report."""
