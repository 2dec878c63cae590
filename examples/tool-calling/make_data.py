"""Write this example's data: calls.jsonl (training chats) and heldout.jsonl (requests to evaluate on).

Every chat is a request for one of the three tools in tools.json, the call with its arguments, the tool's result and
the answer built from it, or a request no tool fits, answered plainly. The held-back requests use cities, amounts,
currencies and timer labels the training chats never show. Deterministic: `python make_data.py` rewrites the same
files.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN_CITIES = [
    "Paris",
    "Berlin",
    "Madrid",
    "Rome",
    "Vienna",
    "Lisbon",
    "Oslo",
    "Dublin",
    "Prague",
    "Warsaw",
    "Athens",
    "Zurich",
    "Brussels",
    "Helsinki",
    "Budapest",
    "Copenhagen",
    "Amsterdam",
    "Stockholm",
]
HELDOUT_CITIES = ["Tokyo", "Lima", "Nairobi", "Toronto", "Seoul", "Cairo", "Sydney", "Denver"]
CURRENCIES = ["EUR", "USD", "GBP", "JPY", "CHF", "CAD", "SEK", "NOK"]
LABELS = ["tea", "pasta", "laundry", "break", "eggs", "stretching", "bread", "call mom"]
HELDOUT_LABELS = ["pizza", "homework", "rice", "meeting"]
WEATHER_ASKS = [
    "What's the weather in {city}?",
    "How warm is it in {city} right now?",
    "Is it raining in {city}?",
    "Tell me the weather for {city}.",
    "Weather in {city} please.",
]
WEATHER_F = ["What's the weather in {city} in fahrenheit?", "How hot is {city} today, in fahrenheit?"]
MONEY_ASKS = [
    "Convert {amount} {src} to {dst}.",
    "How much is {amount} {src} in {dst}?",
    "What are {amount} {src} worth in {dst}?",
    "Change {amount} {src} into {dst}.",
]
TIMER_ASKS = [
    "Set a timer for {minutes} minutes.",
    "Start a {minutes} minute timer for {label}.",
    "Remind me in {minutes} minutes about the {label}.",
    "Timer: {minutes} min, {label}.",
]
PLAIN = [
    ("Hello!", "Hello! I can check the weather, convert currencies and set timers."),
    ("Who are you?", "I am an assistant that can check the weather, convert currencies and set timers."),
    ("Thanks a lot.", "You are welcome!"),
    ("What can you do?", "I can check the weather in a city, convert money between currencies and set timers."),
    ("Tell me a joke.", "Why did the timer go to school? To learn how to count down."),
    ("What is 2 plus 2?", "2 plus 2 is 4."),
    ("Good morning.", "Good morning! How can I help?"),
    ("Can you book a flight?", "I cannot book flights; I can check the weather, convert currencies and set timers."),
    ("Write me a poem about rain.", "Rain on the roof, a quiet drum; the streets go silver, and evening comes."),
    ("What's the capital of France?", "The capital of France is Paris."),
]


def _weather(rng: random.Random, cities: list[str]) -> tuple[str, str, dict, str, str]:
    city = rng.choice(cities)
    if rng.random() < 0.25:
        degrees = rng.randint(40, 95)
        return (
            rng.choice(WEATHER_F).format(city=city),
            "get_weather",
            {"city": city, "unit": "fahrenheit"},
            json.dumps({"temperature": degrees, "unit": "fahrenheit", "sky": "clear"}),
            f"It is {degrees}°F and clear in {city}.",
        )
    degrees, sky = rng.randint(-5, 35), rng.choice(["sunny", "cloudy", "rainy", "windy"])
    return (
        rng.choice(WEATHER_ASKS).format(city=city),
        "get_weather",
        {"city": city},
        json.dumps({"temperature": degrees, "unit": "celsius", "sky": sky}),
        f"It is {degrees}°C and {sky} in {city}.",
    )


def _money(rng: random.Random, amounts: list[int]) -> tuple[str, str, dict, str, str]:
    src, dst = rng.sample(CURRENCIES, 2)
    amount, rate = rng.choice(amounts), round(rng.uniform(0.5, 1.5), 2)
    result = round(amount * rate, 2)
    return (
        rng.choice(MONEY_ASKS).format(amount=amount, src=src, dst=dst),
        "convert_currency",
        {"amount": amount, "from_currency": src, "to_currency": dst},
        json.dumps({"result": result}),
        f"{amount} {src} is {result} {dst}.",
    )


def _timer(rng: random.Random, labels: list[str]) -> tuple[str, str, dict, str, str]:
    minutes, label = rng.choice([1, 2, 3, 5, 8, 10, 12, 15, 20, 25, 30, 45]), rng.choice(labels)
    ask = rng.choice(TIMER_ASKS)
    arguments = {"minutes": minutes, **({"label": label} if "{label}" in ask else {})}
    return (
        ask.format(minutes=minutes, label=label),
        "set_timer",
        arguments,
        json.dumps({"started": True}),
        f"Your {minutes} minute timer{' for ' + label if 'label' in arguments else ''} is running.",
    )


def _chat(ask: str, name: str, arguments: dict, result: str, answer: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": ask},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"type": "function", "function": {"name": name, "arguments": arguments}}],
            },
            {"role": "tool", "content": result},
            {"role": "assistant", "content": answer},
        ]
    }


def main() -> None:
    rng = random.Random(7)
    train_amounts, heldout_amounts = list(range(5, 500, 5)), [7, 13, 42, 77, 333, 1250]
    rows, seen = [], set()
    while len(rows) < 290:
        kind = rng.random()
        ask, name, arguments, result, answer = (
            _weather(rng, TRAIN_CITIES)
            if kind < 0.4
            else _money(rng, train_amounts)
            if kind < 0.75
            else _timer(rng, LABELS)
        )
        if ask not in seen:
            seen.add(ask)
            rows.append(_chat(ask, name, arguments, result, answer))
    for question, answer in PLAIN:
        rows.append({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]})
    rng.shuffle(rows)
    with (HERE / "calls.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    heldout = []
    for index in range(30):
        ask, name, arguments, _result, _answer = (
            _weather(rng, HELDOUT_CITIES),
            _money(rng, heldout_amounts),
            _timer(rng, HELDOUT_LABELS),
        )[index % 3]
        heldout.append({"request": ask, "call": {"name": name, "arguments": arguments}})
    with (HERE / "heldout.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in heldout)


if __name__ == "__main__":
    main()
