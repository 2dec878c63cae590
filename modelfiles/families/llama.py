"""Meta's layouts: Llama 3 headers; 3.1/3.3's and 3.2's, with tools as JSON in the first user turn; Llama 2's [INST]
with <<SYS>>."""

from __future__ import annotations

import json
from datetime import datetime

from tunesmith.modelfiles.families._common import Messages, Tools, system_prompt, to_json

LLAMA31_DATE = "26 Jul 2024"  # Llama 3.1/3.3's `date_string` when none is given
TOOLS_PREAMBLE = (
    "Given the following functions, please respond with a JSON for a function call with its proper "
    'arguments that best answers the given prompt.\n\nRespond in the format {"name": function name, '
    '"parameters": dictionary of argument name and its value}.Do not use variables.\n\n'
)


def llama3(messages: Messages, default_system: str | None) -> str:
    turns = "".join(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>" for m in messages)
    return turns + "<|start_header_id|>assistant<|end_header_id|>\n\n"


def _llama3_tools(messages: Messages, tools: Tools, date: str) -> str:
    """Llama 3.1-3.3's layout: the system header with the date; with tools, "Environment: ipython", the tools as
    indented JSON in the first user turn, each call as `{"name", "parameters"}` and each result as an ipython turn."""
    environment = "Environment: ipython\n" if tools else ""
    text = (
        f"<|start_header_id|>system<|end_header_id|>\n\n{environment}Cutting Knowledge Date: December 2023\n"
        f"Today Date: {date}\n\n{system_prompt(messages)}<|eot_id|>"
    )
    pending_tools = bool(tools)
    for m in messages:
        if m["role"] == "system":
            continue
        if pending_tools:
            pending_tools = False
            listed = "".join(json.dumps(tool, indent=4, ensure_ascii=False) + "\n\n" for tool in tools or ())
            text += f"<|start_header_id|>user<|end_header_id|>\n\n{TOOLS_PREAMBLE}{listed}{m['content']}<|eot_id|>"
        elif m.get("tool_calls"):
            calls = "".join(
                f'{{"name": "{call["function"]["name"]}", "parameters": {to_json(call["function"]["arguments"])}}}'
                for call in m["tool_calls"]
            )
            text += f"<|start_header_id|>assistant<|end_header_id|>\n\n{calls}<|eot_id|>"
        elif m["role"] == "tool":
            # A string is iterable in Jinja, so Meta's template writes every result through tojson.
            text += f"<|start_header_id|>ipython<|end_header_id|>\n\n{to_json(m['content'])}<|eot_id|>"
        else:
            text += f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content']}<|eot_id|>"
    return text + "<|start_header_id|>assistant<|end_header_id|>\n\n"


def llama31(messages: Messages, default_system: str | None, tools: Tools = None) -> str:
    return _llama3_tools(messages, tools, LLAMA31_DATE)


def llama32(messages: Messages, default_system: str | None, tools: Tools = None) -> str:
    """Llama 3.2's: 3.1's layout with today's date, as its template's `strftime_now("%d %b %Y")` writes it."""
    return _llama3_tools(messages, tools, datetime.now().strftime("%d %b %Y"))


def llama2(messages: Messages, default_system: str | None) -> str:
    system = system_prompt(messages)
    parts: list[str] = []
    for m in messages:
        if m["role"] == "user":
            block = f"<<SYS>>\n{system}\n<</SYS>>\n\n" if system else ""
            # BOS opens every turn; llama.cpp adds the first one itself.
            parts.append(f"{'<s>' if parts else ''}[INST] {block}{m['content']} [/INST]")
            system = ""
        elif m["role"] == "assistant":
            parts.append(f" {m['content']} </s>")
    return "".join(parts)
