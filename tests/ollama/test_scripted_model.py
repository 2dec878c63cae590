"""The scripted tiny model (tests/fixtures/scripted_model.py) answers exactly its script once packaged by
`tunesmith package`: through llama-cpp-python, token for token, and through the real Ollama with its default
repeat penalty, before and after the marker that switches it to its second reply."""

from __future__ import annotations

import pytest

from tunesmith.modelfiles.prompt import chat_text

CALL = ['<tool_call>\n{"name": ', '"get_weather", ', '"arguments": ', '{"city": "Paris"}', "}\n</tool_call>"]
ANSWER = ["It is", " 21 degrees", " in Paris."]
MARKER = '{"temperature": 21}'
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
TOLD = [*ASK, {"role": "assistant", "content": "Let me look."}, {"role": "user", "content": f"Result: {MARKER}"}]
FAMILIES = ["qwen2", "qwen3", "llama3.1"]


def _gguf(package):
    [gguf] = package.glob("*.gguf")
    return gguf


@pytest.mark.parametrize("quant", ["F16", "Q8_0"])
@pytest.mark.parametrize("family", FAMILIES)
def test_llama_cpp_generates_the_script_token_for_token(family, quant, scripted_model, scripted_package):
    from llama_cpp import Llama
    from transformers import PreTrainedTokenizerFast

    package = scripted_package(family, CALL, (MARKER, ANSWER), quant=quant)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(scripted_model(family, CALL, (MARKER, ANSWER)))
    llm = Llama(str(_gguf(package)), n_ctx=512, verbose=False)
    for messages, script in ((ASK, CALL), (TOLD, ANSWER)):
        text = chat_text(
            tokenizer.chat_template, messages, bos_token=tokenizer.bos_token, eos_token=tokenizer.eos_token
        )
        prompt = llm.tokenize(text.encode(), add_bos=False, special=True)
        expected = [
            tokenizer.convert_tokens_to_ids(piece)
            if piece in tokenizer.get_added_vocab()
            else tokenizer(piece, add_special_tokens=False).input_ids[0]
            for piece in script
        ]
        generated = []
        # Ollama's default repeat penalty: the script's margin must hold under it.
        for token in llm.generate(prompt, temp=0.0, repeat_penalty=1.1, top_k=1):
            generated.append(token)
            if token == tokenizer.eos_token_id or len(generated) > len(script):
                break
        assert generated == [*expected, tokenizer.eos_token_id]
        assert llm.detokenize(generated[:-1]).decode() == "".join(script)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_real_ollama_answers_the_script_at_temperature_zero(family, real_ollama, scripted_package):
    package = scripted_package(family, CALL, (MARKER, ANSWER))
    name = f"scripted-{family}"
    done = real_ollama.cli("create", name, "-f", str(package / "Modelfile"))
    assert done.returncode == 0, done.stderr[-2000:]
    for messages, script in ((ASK, CALL), (TOLD, ANSWER)):
        # No tools in the request: Ollama hands back the model's text as it is, the call's tags included.
        answer = real_ollama.post(
            "/api/chat",
            {"model": name, "messages": messages, "stream": False, "options": {"temperature": 0, "num_predict": 20}},
        )
        assert answer["message"]["content"] == "".join(script)
        assert answer["done_reason"] == "stop"
