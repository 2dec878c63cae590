"""The playground and the compare view in a real browser: answers streamed from scripted models (their greedy reply
is known), the Modelfile's settings shown, tool calls shown, two models side by side."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.studio.conftest import (
    BASE,
    KEY,
    SYSTEM,
    TOOL_CALL,
    TUNED,
    assert_every_control_is_labelled,
    screenshot,
)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}

# Records every text the answer showed while it streamed, to tell a streamed answer from one shown whole.
# The network's timing is made deterministic first: a loaded machine may deliver several server-sent events in one
# read, so each event is handed to the page in its own chunk, a few milliseconds apart (the server's own streaming,
# one event per token, is checked over HTTP in tests/server).
WATCH = """(selector) => {
  const realFetch = window.fetch;
  window.fetch = async (...args) => {
    const response = await realFetch(...args);
    if (!(response.headers.get('content-type') || '').startsWith('text/event-stream')) return response;
    const reader = response.body.getReader();
    const decoder = new TextDecoder(), encoder = new TextEncoder();
    let buffer = '';
    const body = new ReadableStream({
      async pull(controller) {
        for (;;) {
          const cut = buffer.indexOf('\\n\\n');
          if (cut >= 0) {
            const event = buffer.slice(0, cut + 2);
            buffer = buffer.slice(cut + 2);
            await new Promise((resolve) => setTimeout(resolve, 15));
            controller.enqueue(encoder.encode(event));
            return;
          }
          const {done, value} = await reader.read();
          if (done) {
            if (buffer) controller.enqueue(encoder.encode(buffer));
            controller.close();
            return;
          }
          buffer += decoder.decode(value, {stream: true});
        }
      },
    });
    return new Response(body, {status: response.status, statusText: response.statusText, headers: response.headers});
  };
  window.seen = [];
  new MutationObserver(() => {
    for (const el of document.querySelectorAll(selector)) {
      if (el.textContent && window.seen.at(-1) !== el.textContent) window.seen.push(el.textContent);
    }
  }).observe(document.querySelector('main'), {subtree: true, childList: true, characterData: true});
}"""


def test_a_playground_chat_streams_the_models_greedy_reply(open_page, served, api):
    page = open_page(f"{served}/#/playground?model=demo", key=KEY)
    expect(page.get_by_label("Model")).to_have_value("demo")
    settings = api.get("/v1/models/demo").json().get("tunesmith")
    if settings is not None:  # the Modelfile's SYSTEM and parameters, shown and editable
        expect(page.get_by_label("System prompt")).to_have_value(SYSTEM)
        expect(page.get_by_label("Temperature")).to_have_value("0")
    page.evaluate(WATCH, ".message.assistant .content")

    page.get_by_label("Message").fill("What does tunesmith do?")
    page.get_by_role("button", name="Send", exact=True).click()
    answer = page.locator(".message.assistant").last
    expect(answer.locator(".turn-status")).to_have_text("Finished: stop", timeout=30_000)
    assert answer.locator(".content").inner_text() == "".join(TUNED)
    seen = page.evaluate("window.seen")
    assert len(seen) >= 3 and all("".join(TUNED).startswith(text) for text in seen), seen
    expect(page.locator(".message.user .content")).to_have_text("What does tunesmith do?")
    assert_every_control_is_labelled(page)
    screenshot(page, "playground")


def test_tool_definitions_go_with_the_chat_and_the_call_is_shown(open_page, served, api):
    tool_model = next(
        model["id"] for model in api.get("/v1/models").json()["data"] if model["id"].startswith("scripted")
    )
    page = open_page(f"{served}/#/playground?model={tool_model}", key=KEY)
    expect(page.get_by_label("Model")).to_have_value(tool_model)
    page.get_by_text("Tools", exact=True).click()
    page.get_by_label("Tool definitions (JSON list, OpenAI format)").fill(json.dumps([WEATHER]))
    page.get_by_label("Message").fill("What is the weather in Paris?")
    page.get_by_role("button", name="Send", exact=True).click()

    answer = page.locator(".message.assistant").last
    expect(answer.locator(".turn-status")).to_have_text("Finished: tool_calls", timeout=30_000)
    call = answer.locator(".tool-call")
    expect(call).to_have_count(1)
    expect(call.locator(".tool-name")).to_have_text("Tool call: get_weather")
    assert json.loads(call.locator(".tool-arguments").inner_text()) == {"city": "Paris"}
    assert "".join(TOOL_CALL).startswith("<tool_call>")  # the raw call text never reaches the page as content
    assert answer.locator(".content").inner_text() == ""
    expect(page.get_by_label("Result of get_weather", exact=False)).to_be_visible()


def test_compare_streams_the_base_and_the_tuned_model_side_by_side(open_page, served):
    page = open_page(f"{served}/#/compare?models=demo-base,demo", key=KEY)
    lanes = page.locator("section.lane")
    expect(lanes).to_have_count(2)
    assert lanes.evaluate_all("lanes => lanes.map(l => l.dataset.model)") == ["demo-base", "demo"]

    page.get_by_label("Message").fill("Who are you?")
    page.get_by_role("button", name="Send to all").click()
    for model, reply in (("demo-base", BASE), ("demo", TUNED)):
        lane = page.locator(f"section.lane[data-model='{model}']")
        expect(lane.locator(".message.assistant .turn-status")).to_have_text("Finished: stop", timeout=30_000)
        assert lane.locator(".message.assistant .content").inner_text() == "".join(reply)
        expect(lane.locator(".message.user .content")).to_have_text("Who are you?")
    assert_every_control_is_labelled(page)
    screenshot(page, "compare")


@pytest.mark.parametrize(
    ("view", "details", "send", "tools", "said"),
    [
        ("playground?model=demo", "Tools", "Send", "[{not json", "the tools are not JSON"),
        (
            "compare?models=demo-base,demo",
            "Settings and tools",
            "Send to all",
            '{"type": "function"}',
            "the tools must be a JSON list",
        ),
    ],
)
def test_tool_definitions_that_are_not_a_json_list_are_refused_before_anything_is_sent(
    open_page, served, view, details, send, tools, said
):
    page = open_page(f"{served}/#/{view}", key=KEY)
    page.locator("summary", has_text=details).click()
    page.get_by_label("Tool definitions (JSON list, OpenAI format)").fill(tools)
    page.get_by_label("Message").fill("What is the weather in Paris?")
    page.get_by_role("button", name=send, exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text(said)
    expect(page.locator(".message")).to_have_count(0)
    expect(page.get_by_label("Message")).to_have_value("What is the weather in Paris?")  # kept, to fix and resend
