"""Offline token estimates and the simple/medium/complex verdict that routing rules use."""

from __future__ import annotations

from axtui.engine.tokens import complexity, estimate_prompt, estimate_text
from axtui.providers.base import ChatRequest

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                           "parameters": {"type": "object", "properties": {
                                               "city": {"type": "string"}}}}}]


def ask(*contents, **kw) -> ChatRequest:
    return ChatRequest(messages=[{"role": "user", "content": c} for c in contents], **kw)


def level(request: ChatRequest) -> str:
    tokens, _, text = estimate_prompt(request)
    return complexity(tokens, request, text)


def test_english_is_about_four_characters_a_token():
    assert estimate_text("a" * 400) == 100
    assert estimate_text("The quick brown fox jumps over the lazy dog.") == 11


def test_a_partial_token_counts_as_one():
    assert estimate_text("hi") == 1
    assert estimate_text("") == 0


def test_cjk_is_about_one_token_a_character():
    assert estimate_text("你好世界" * 25) == 100
    assert estimate_text("こんにちは") == 5


def test_mixed_scripts_count_each_part_at_its_own_rate():
    assert estimate_text("hello 世界") == 2 + 2  # "hello " is 6 chars -> 2, then 2 CJK


def test_each_message_adds_framing_tokens():
    one, _, _ = estimate_prompt(ask("hi"))
    two, _, _ = estimate_prompt(ask("hi", "hi"))
    assert two - one == 4 + 1


def test_images_are_counted_and_reported():
    text_only, has_images, _ = estimate_prompt(ask([{"type": "text", "text": "what is this"}]))
    with_image, has_images2, text = estimate_prompt(ask([
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]))
    assert not has_images and has_images2
    assert with_image - text_only == 765
    assert text == "what is this"


def test_tool_definitions_are_counted():
    without, _, _ = estimate_prompt(ask("weather in Paris?"))
    with_tools, _, _ = estimate_prompt(ask("weather in Paris?", tools=TOOLS))
    assert with_tools - without >= 20


def test_tool_calls_in_the_history_are_counted():
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    plain, _, _ = estimate_prompt(ChatRequest(messages=[{"role": "assistant", "content": None}]))
    with_call, _, _ = estimate_prompt(ChatRequest(messages=[call]))
    assert with_call - plain >= 15


def test_a_short_question_is_simple():
    assert level(ask("What is the capital of France?")) == "simple"


def test_a_long_prompt_is_medium():
    assert level(ask("word " * 400)) == "medium"  # ~500 tokens


def test_tools_make_a_request_medium():
    assert level(ask("weather in Paris?", tools=TOOLS)) == "medium"


def test_a_long_conversation_is_medium():
    assert level(ask(*["ok"] * 7)) == "medium"


def test_a_reasoning_hint_alone_is_medium():
    assert level(ask("Prove that there are infinitely many primes.")) == "medium"


def test_a_reasoning_hint_with_a_long_prompt_is_complex():
    assert level(ask("Analyze the trade-offs in this design:\n" + "detail " * 600)) == "complex"


def test_a_reasoning_hint_after_a_long_document_is_complex():
    assert level(ask("detail " * 600 + "\nNow compare and contrast the two options.")) == "complex"


def test_a_reasoning_hint_with_tools_is_complex():
    assert level(ask("Think step by step about which tool to call.", tools=TOOLS)) == "complex"


def test_a_very_long_prompt_is_complex_whatever_it_says():
    assert level(ask("lorem " * 3500)) == "complex"  # ~5000 tokens


def test_a_hint_in_any_letter_case_still_counts():
    assert level(ask("THINK STEP BY STEP: " + "word " * 700)) == "complex"  # ~880 tokens
    assert level(ask("Please Analyse this")) == "medium"


def test_a_hint_in_non_ascii_text_is_found_as_the_pattern_finds_it():
    # re.I folds the long s (ſ) to s: the ASCII shortcut must not miss it
    assert level(ask("ſtep by ſtep, 世界")) == "medium"


def test_a_word_that_only_contains_a_hint_is_no_hint():
    assert level(ask("our reasonable approach to the problem")) == "simple"
