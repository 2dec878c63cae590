"""Meta's layouts: Llama 3 and 3.1 headers, Llama 2's [INST] with <<SYS>>."""

from __future__ import annotations

from tunesmith.modelfiles.families._common import Messages, system_prompt


def llama3(messages: Messages, default_system: str | None) -> str:
    turns = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>" for m in messages)
    return turns + "<|start_header_id|>assistant<|end_header_id|>\n\n"


def llama31(messages: Messages, default_system: str | None) -> str:
    header = ("<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
              f"Today Date: 26 Jul 2024\n\n{system_prompt(messages)}<|eot_id|>")
    return header + llama3([m for m in messages if m["role"] != "system"], None)


def llama2(messages: Messages, default_system: str | None) -> str:
    system, parts = system_prompt(messages), []
    for m in messages:
        if m["role"] == "user":
            block = f"<<SYS>>\n{system}\n<</SYS>>\n\n" if system else ""
            # BOS opens every turn; llama.cpp adds the first one itself.
            parts.append(f"{'<s>' if parts else ''}[INST] {block}{m['content']} [/INST]")
            system = ""
        elif m["role"] == "assistant":
            parts.append(f" {m['content']} </s>")
    return "".join(parts)
