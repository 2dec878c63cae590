"""ChatML layouts: plain ChatML (SmolLM2 and most community models) and Qwen2.5's, with tools in the system turn."""

from __future__ import annotations

from tunesmith.modelfiles.families._common import Messages, Tools, system_prompt, to_json


def chatml(messages: Messages, default_system: str | None) -> str:
    text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    if default_system is not None and not system_prompt(messages):
        text = f"<|im_start|>system\n{default_system}<|im_end|>\n" + text
    return text + "<|im_start|>assistant\n"


QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
TOOLS_INTRO = ("\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
               "You are provided with function signatures within <tools></tools> XML tags:\n<tools>")
TOOLS_OUTRO = ("\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
               "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
               "<args-json-object>}\n</tool_call><|im_end|>\n")


def qwen25(messages: Messages, default_system: str | None, tools: Tools = None) -> str:
    """Qwen2.5's layout: tools in the system turn, calls as <tool_call> JSON, results in a user turn."""
    text, skip_first = "", False
    if tools:
        first = messages[0] if messages and messages[0]["role"] == "system" else None
        skip_first = first is not None
        text = ("<|im_start|>system\n" + (first["content"] if first else QWEN_SYSTEM) + TOOLS_INTRO
                + "".join("\n" + to_json(tool) for tool in tools) + TOOLS_OUTRO)
    elif not system_prompt(messages):
        text = f"<|im_start|>system\n{QWEN_SYSTEM}<|im_end|>\n"
    previous = ""
    for index, m in enumerate(messages):
        if previous == "tool" and m["role"] != "tool":
            text += "<|im_end|>\n"
        if skip_first and index == 0:
            pass
        elif m["role"] == "tool":
            opener = "" if previous == "tool" else "<|im_start|>user"
            text += f"{opener}\n<tool_response>\n{m['content']}\n</tool_response>"
        elif m["role"] == "assistant" and m.get("tool_calls"):
            text += "<|im_start|>assistant" + (f"\n{m['content']}" if m.get("content") else "")
            for call in m["tool_calls"]:
                function = call.get("function", call)
                text += (f'\n<tool_call>\n{{"name": "{function["name"]}", "arguments": '
                         f'{to_json(function["arguments"])}}}\n</tool_call>')
            text += "<|im_end|>\n"
        else:
            text += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
        previous = m["role"]
    if previous == "tool":
        text += "<|im_end|>\n"
    return text + "<|im_start|>assistant\n"
