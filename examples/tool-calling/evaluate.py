"""How often the served model calls the right function with the right arguments on held-back requests.

    tunesmith serve --model runs/tool-calling/package --port 8080 &
    python examples/tool-calling/evaluate.py --base-url http://127.0.0.1:8080/v1 --model tool-calling

Each request of heldout.jsonl goes out with the three tools of tools.json at temperature 0, through the `openai`
client as an agent would send it; a request counts when the answer holds exactly one tool call, to the expected
function, with the expected arguments. Prints the rate per function and in all.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from openai import OpenAI

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--model", default="tool-calling")
    parser.add_argument("--api-key", default="unused")
    args = parser.parse_args()
    client = OpenAI(base_url=args.base_url, api_key=args.api_key)
    tools = json.loads((HERE / "tools.json").read_text(encoding="utf-8"))
    asked, right = Counter(), Counter()
    for line in (HERE / "heldout.jsonl").read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        expected = case["call"]
        reply = client.chat.completions.create(
            model=args.model,
            temperature=0,
            tools=tools,
            max_tokens=128,
            messages=[{"role": "user", "content": case["request"]}],
        )
        calls = reply.choices[0].message.tool_calls or []
        got = [(call.function.name, json.loads(call.function.arguments)) for call in calls]
        ok = got == [(expected["name"], expected["arguments"])]
        asked[expected["name"]] += 1
        right[expected["name"]] += ok
        print(f"{'ok  ' if ok else 'MISS'} {case['request']!r} -> {got or reply.choices[0].message.content!r}")
    for name in sorted(asked):
        print(f"{name}: {right[name]}/{asked[name]}")
    total, hits = sum(asked.values()), sum(right.values())
    print(f"right function and arguments: {hits}/{total} ({hits / total:.0%})")


if __name__ == "__main__":
    main()
