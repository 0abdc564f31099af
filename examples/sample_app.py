"""A small LLM app, instrumented by one line. Its traffic: chats (with a feature and prompt version,
user feedback and an issue report), streams, tools, a retried 429, errors.

Run it against any OpenAI/Anthropic-compatible endpoint:
    OPENAI_BASE_URL=http://127.0.0.1:8000/v1 ANTHROPIC_BASE_URL=http://127.0.0.1:8000 python examples/sample_app.py
"""

from __future__ import annotations

import asyncio
import os

import anthropic
import openai

import otel_llm
import otel_llm.auto  # noqa: F401  - the one line

QUESTIONS = [
    "What is OpenTelemetry?",
    "Summarise our refund policy in one sentence.",
    "Name three prime numbers.",
    "I'm Jane, jane.doe@example.com, +1 415 555 0132: please reset my password.",
]


def run(openai_base_url: str, anthropic_base_url: str) -> None:
    oai = openai.OpenAI(
        base_url=openai_base_url, api_key=os.environ.get("OPENAI_API_KEY", "demo"), max_retries=2
    )
    ant = anthropic.Anthropic(
        base_url=anthropic_base_url, api_key=os.environ.get("ANTHROPIC_API_KEY", "demo"), max_retries=2
    )
    with otel_llm.attributes(feature="support-reply", prompt_version="v3"):
        for number, question in enumerate(QUESTIONS):
            answer = oai.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
            )
            # What the app's thumbs buttons and editor would report about each answer.
            otel_llm.record_feedback(answer, score=number % 2, edit_seconds=5.0 * number)
        otel_llm.report_issue(answer, category="wrong_answer", description="The customer says this is wrong.")
    stream = oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Write a haiku about tracing"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-mock-chunks": "12", "x-mock-cached-tokens": "16"},
    )
    for _ in stream:
        pass
    with ant.messages.stream(
        model="claude-haiku-4-5", max_tokens=200, messages=[{"role": "user", "content": "Explain retries"}]
    ) as answer:
        answer.get_final_message()
    ant.messages.create(
        model="claude-haiku-4-5",
        max_tokens=200,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[
            {
                "name": "get_weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
    )
    oai.embeddings.create(model="text-embedding-3-small", input=QUESTIONS)
    try:
        oai.with_options(max_retries=0).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Fail please"}],
            extra_headers={"x-mock-fault": "500"},
        )
    except openai.InternalServerError:
        pass
    asyncio.run(_concurrent(openai_base_url))


async def _concurrent(openai_base_url: str) -> None:
    client = openai.AsyncOpenAI(base_url=openai_base_url, api_key="demo", max_retries=0)
    await asyncio.gather(
        *(
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": q}])
            for q in QUESTIONS
        )
    )


if __name__ == "__main__":
    import sys
    import time

    import otel_llm

    # SAMPLE_APP_ROUNDS=0 repeats the traffic until the process is stopped (the demo does that).
    rounds = int(os.environ.get("SAMPLE_APP_ROUNDS", "1"))
    done = 0
    try:
        while rounds == 0 or done < rounds:
            run(os.environ["OPENAI_BASE_URL"], os.environ["ANTHROPIC_BASE_URL"])
            done += 1
            print(f"round {done} done", flush=True)
            if rounds == 0:
                time.sleep(float(os.environ.get("SAMPLE_APP_PAUSE", "1")))
    except KeyboardInterrupt:
        pass
    finally:
        otel_llm.flush()
    sys.exit(0)
