"""The tables and goal rows of bench/proxy.py, from its cells: one cell per concurrency, one summary per target
(`"<side> <mode>"`: side direct, tunesmith or litellm; mode stream, whole or tools; see bench/load_client.py).
"""

from __future__ import annotations

from bench.report import limit_row, ratio_row

__all__ = ["ADDED_P50_MS", "ADDED_P99_MS", "LITELLM_RATE_RATIO", "MODES", "print_tables", "rows"]

# The project's goals for the proxy, for streamed and whole answers alike: added latency at one client, and
# requests/s at 16 clients against LiteLLM's proxy run side by side.
ADDED_P50_MS, ADDED_P99_MS, LITELLM_RATE_RATIO = 1.0, 3.0, 10.0
MODES = {"stream": "streamed", "whole": "non-streamed", "tools": "streamed with tools"}
_LATENCY = {"stream": "time to first byte", "whole": "time to the whole answer", "tools": "time to first byte"}


def _added(cell: dict, side: str, mode: str) -> tuple[float, float]:
    ours, direct = cell[f"{side} {mode}"], cell[f"direct {mode}"]
    return ours["p50_ms"] - direct["p50_ms"], ours["p99_ms"] - direct["p99_ms"]


def _clients(n: int) -> str:
    return f"{n} client{'s' if n > 1 else ''}"


def rows(cells: list[dict], modes: list[str]) -> list[dict]:
    """The rows of bench/run_all.py's table: the goals, and the ratios behind them."""
    found = []
    for cell in cells:
        n = cell["clients"]
        for mode in modes:
            if mode == "tools":
                found += _tool_rows(cell)
                continue
            label, ours = MODES[mode], cell[f"tunesmith {mode}"]
            litellm = cell.get(f"litellm {mode}")
            added = _added(cell, "tunesmith", mode)
            their = _added(cell, "litellm", mode) if litellm else (None, None)
            anchor = "LiteLLM proxy" if litellm else None
            if n == 1:
                for q, i, most in (("p50", 0, ADDED_P50_MS), ("p99", 1, ADDED_P99_MS)):
                    found.append(
                        limit_row("proxy", f"added {q}, {label}, 1 client", "ms", added[i], most, their[i], anchor)
                    )
            elif litellm:
                found.append(
                    ratio_row("proxy", f"added p50, {label}, {_clients(n)}", "ms", added[0], their[0], anchor, "lower")
                )
            if litellm:
                goal = LITELLM_RATE_RATIO if n == 16 and mode != "tools" else None
                rate, theirs = ours["requests_per_s"], litellm["requests_per_s"]
                found.append(
                    ratio_row(
                        "proxy", f"requests/s, {label}, {_clients(n)}", "req/s", rate, theirs, anchor, "higher", goal
                    )
                )
            found.append(
                ratio_row(
                    "proxy",
                    f"requests/s, {label}, {_clients(n)}",
                    "req/s",
                    ours["requests_per_s"],
                    cell[f"direct {mode}"]["requests_per_s"],
                    "fake Ollama direct",
                    "higher",
                )
            )
            for earlier in (
                key[: -len(mode) - 1] for key in cell if key.startswith("tunesmith@") and key.endswith(mode)
            ):
                then = cell[f"{earlier} {mode}"]
                if n == 1:
                    before = _added(cell, earlier, mode)[0]
                    found.append(
                        ratio_row("proxy", f"added p50, {label}, 1 client", "ms", added[0], before, earlier, "lower")
                    )
                rate = ours["requests_per_s"]
                found.append(
                    ratio_row(
                        "proxy",
                        f"requests/s, {label}, {_clients(n)}",
                        "req/s",
                        rate,
                        then["requests_per_s"],
                        earlier,
                        "higher",
                    )
                )
    return found


def _tool_rows(cell: dict) -> list[dict]:
    """A tool request (two tools in, a call out) against the plain streamed chat, through the same tunesmith."""
    clients = _clients(cell["clients"])
    added, plain = _added(cell, "tunesmith", "tools"), _added(cell, "tunesmith", "stream")
    rate, plain_rate = cell["tunesmith tools"]["requests_per_s"], cell["tunesmith stream"]["requests_per_s"]
    return [
        ratio_row("proxy", f"added p50 with tools, {clients}", "ms", added[0], plain[0], "plain chat", "lower"),
        ratio_row("proxy", f"requests/s with tools, {clients}", "req/s", rate, plain_rate, "plain chat", "higher"),
    ]


def _pair(summary: dict) -> str:
    return f"{summary['p50_ms']:.2f} / {summary['p99_ms']:.2f}"


def print_tables(cells: list[dict], modes: list[str], sides: list[str]) -> None:
    """One markdown table per mode, then the goals side by side."""
    for mode in modes:
        print(f"\n{MODES[mode]} ({_LATENCY[mode]}; ms)\n")
        sides = [side for side in sides if f"{side} {mode}" in cells[0]]
        header = ["clients", "direct p50 / p99"]
        for side in sides:
            header += [f"{side} p50 / p99", f"{side} added p50 / p99"]
        header += ["direct req/s", *(f"{side} req/s" for side in sides), "fake CPU % under tunesmith"]
        print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for cell in cells:
            direct = cell[f"direct {mode}"]
            line = [str(cell["clients"]), _pair(direct)]
            for side in sides:
                added = _added(cell, side, mode)
                line += [_pair(cell[f"{side} {mode}"]), f"{added[0]:.2f} / {added[1]:.2f}"]
            line += [
                f"{direct['requests_per_s']:.0f}",
                *(f"{cell[f'{s} {mode}']['requests_per_s']:.0f}" for s in sides),
            ]
            line.append(f"{100 * cell[f'tunesmith {mode}']['fake_cpu_share']:.0f}")
            print("| " + " | ".join(line) + " |")
    one = next((cell for cell in cells if cell["clients"] == 1), None)
    many = next((cell for cell in cells if cell["clients"] == 16), None)
    if one is None or many is None or "litellm" not in sides:
        return
    print(
        f"\nThe goals (added p50 <= {ADDED_P50_MS:g} ms and p99 <= {ADDED_P99_MS:g} ms at 1 client; "
        f">= {LITELLM_RATE_RATIO:g}x LiteLLM's requests/s at 16)\n"
    )
    print(
        "| answer | added p50 / p99 ms, 1 client | tunesmith req/s, 16 | LiteLLM req/s, 16 | ratio "
        "| fake direct req/s, 16 (its CPU %) |"
    )
    print("|---|---|---|---|---|---|")
    for mode in modes:
        if mode == "tools":
            continue
        added = _added(one, "tunesmith", mode)
        ours, theirs = many[f"tunesmith {mode}"]["requests_per_s"], many[f"litellm {mode}"]["requests_per_s"]
        direct = many[f"direct {mode}"]
        print(
            f"| {MODES[mode]} | {added[0]:.2f} / {added[1]:.2f} | {ours:.0f} | {theirs:.0f} | {ours / theirs:.1f}x "
            f"| {direct['requests_per_s']:.0f} ({100 * direct['fake_cpu_share']:.0f}%) |"
        )
