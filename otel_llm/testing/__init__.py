"""A mock LLM provider speaking the OpenAI, Azure OpenAI and Anthropic (+ Vertex AI, Bedrock) HTTP APIs.

Use it in tests instead of a real provider (stdlib only; nothing here calls the network)::

    from otel_llm.testing import MockProvider

    with MockProvider() as mock:                       # 127.0.0.1, free port
        oai = openai.OpenAI(base_url=mock.openai_base_url, api_key="x")
        ant = anthropic.Anthropic(base_url=mock.anthropic_base_url, api_key="x")

or in-process, without sockets (same payloads; for overhead benchmarks)::

    openai.OpenAI(base_url="http://mock/v1", api_key="x", http_client=httpx2.Client(transport=mock_transport()))
    openai.AsyncOpenAI(..., http_client=httpx2.AsyncClient(transport=async_mock_transport()))

Command line: ``python -m otel_llm.testing [--host 127.0.0.1] [--port 8000]``.

Endpoints (``POST``; unknown paths answer 404, invalid JSON 400)
-----------------------------------------------------------------
* OpenAI ``/v1/chat/completions`` (JSON; SSE with ``stream: true``, a final usage chunk with empty
  ``choices`` only when ``stream_options.include_usage``; ``n``; ``tools`` -> a tool call; ``response_format``
  ``json_object`` / ``json_schema`` -> JSON content filled from the schema), ``/v1/responses`` (JSON and the
  real SSE event sequence, ``sequence_number`` from 0), ``/v1/embeddings`` (float or base64 float32 vectors,
  ``dimensions`` or 8 values), ``/v1/completions`` (legacy).
* Azure OpenAI: the same under ``/openai/deployments/{deployment}/...``, ``/openai/...`` and
  ``/openai/v1/...`` (the ``api-version`` query is accepted and ignored).
* Anthropic ``/v1/messages`` (JSON and SSE), Vertex AI
  ``/v1/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:rawPredict|streamRawPredict`` and
  Bedrock ``/model/{model}/invoke`` / ``invoke-with-response-stream`` (AWS event-stream framing with base64
  ``bytes`` payloads). Vertex/Bedrock requests must carry ``anthropic_version`` (the SDKs add it).
  Token counting: ``/v1/messages/count_tokens`` and Vertex ``.../models/count-tokens:rawPredict``.

Offline client construction
---------------------------
* ``openai.OpenAI(base_url=mock.openai_base_url, api_key="x")``
* ``openai.AzureOpenAI(azure_endpoint=mock.url, api_key="x", api_version="2024-10-21")`` (optionally
  ``azure_deployment="name"``); the SDK posts to ``/openai/deployments/{model}/chat/completions?api-version=...``.
* ``anthropic.Anthropic(base_url=mock.anthropic_base_url, api_key="x")``
* ``anthropic.AnthropicVertex(base_url=mock.url + "/v1", region="us-east5", project_id="mock-project",
  access_token="x")`` -- ``access_token`` skips google-auth entirely.
* ``anthropic.AnthropicBedrock(base_url=mock.url, aws_region="us-east-1", api_key="x")`` -- the API-key
  (bearer) mode needs no boto3 for requests. With ``aws_access_key="x", aws_secret_key="x"`` instead, boto3
  signs requests (needs ``boto3``). Streaming responses are decoded by the SDK with ``botocore``.

Deterministic usage
-------------------
* Input tokens: for every message (each chat/Anthropic message, each Responses ``input`` item or a string
  ``input``, the Anthropic ``system`` prompt, Responses ``instructions``, each legacy ``prompt``) the number of
  whitespace-separated words of its text + 3. Text = string content, ``text`` of content parts, nested
  ``content`` (tool results) and ``output`` of function-call outputs. Tool definitions are not counted.
  Embeddings: the words of each input string (token-id arrays count their length), no per-input overhead.
* Output: the default text is the first N words of ``DEFAULT_WORDS`` (cycled), N = ``x-mock-chunks``
  (default 5): "The mock provider wrote this". Streams send one word per content chunk (leading space
  attached). Output tokens = number of words of the generated text (``x-mock-output`` text, JSON content for
  structured output, or tool-call arguments JSON); OpenAI ``n`` choices multiply it.
* ``x-mock-cached-tokens: C``: OpenAI ``prompt_tokens`` / Responses ``input_tokens`` = input + C with
  ``cached_tokens`` = C; Anthropic ``input_tokens`` = input (cache EXCLUDED) and ``cache_read_input_tokens`` = C.
* ``x-mock-cache-creation-tokens: W``: Anthropic ``cache_creation_input_tokens`` = W (also excluded from
  ``input_tokens``); ``x-mock-cache-creation-1h-tokens: H`` reports H of them as 1-hour writes
  (``usage.cache_creation.ephemeral_1h_input_tokens``, the rest as 5-minute ones).
* OpenAI responses report the requested ``service_tier`` (``default`` for ``auto`` or none).
* Azure OpenAI chat streams start, like Azure's, with a prompt-filter chunk: no choices, empty id and model.
* ``x-mock-reasoning-tokens: R`` (OpenAI): ``completion_tokens`` / ``output_tokens`` = output + R with
  ``reasoning_tokens`` = R (Responses also emits a ``reasoning`` output item).
* Anthropic streams: ``message_start`` has the input/cache counts and ``output_tokens: 1``; ``message_delta``
  repeats them with the final (cumulative) ``output_tokens``.

Steering headers (send with ``extra_headers=`` or the client's ``default_headers=``)
------------------------------------------------------------------------------------
``x-mock-chunks: N``, ``x-mock-output: <text>`` or ``x-mock-output-base64: <base64 of UTF-8 text>`` for
replies with newlines (overrides the reply, one chunk per word; also overrides
structured output, so invalid JSON can be produced), ``x-mock-cached-tokens``, ``x-mock-cache-creation-tokens``,
``x-mock-cache-creation-1h-tokens``, ``x-mock-reasoning-tokens``, ``x-mock-fault: <fault>``.

Tools: when the request has tools (and ``tool_choice`` is not none), the reply is a call of the first (or the
forced) function tool with arguments filled from its parameter schema (``x-mock-tool-arguments: <text>``
sends these arguments instead, valid or not); when the last message is a tool result the reply is text,
so agent loops end.

Faults (``x-mock-fault`` on every request carrying it, so SDK retries fail too; or ``mock.fail_next(fault,
count)`` for the next requests, which takes precedence). Combine with commas, e.g. ``slow-chunks:0.1,truncate``.
* ``400`` .. ``599``: an error in the provider's format (OpenAI ``{"error": {...}}``, Anthropic
  ``{"type": "error", "error": {"type": "rate_limit_error", ...}}``, Bedrock ``{"message": ...}``) whose message
  echoes the first 40 characters of the last user message, like real providers do. ``429`` sends
  ``retry-after: 0`` (the SDKs then use their own short backoff); ``429:SECONDS`` sets ``retry-after``.
  ``529`` is Anthropic's overloaded_error.
* ``slow:SECONDS``: wait before responding; ``slow-chunks:SECONDS``: wait between streamed chunks.
* ``malformed``: 200 with an invalid JSON body (streams: an invalid event after a few chunks).
* ``truncate``: JSON: half the body then the connection closes; streams: half the events, then the connection
  closes without the end (no ``[DONE]`` / ``message_stop`` / ``response.completed``).
* ``disconnect``: the connection closes without any response.
* ``stream-error``: after half the events, an error event (OpenAI chat/completions: ``data: {"error": ...}``;
  Responses: an ``error`` event; Anthropic: ``event: error`` overloaded_error; Bedrock: a
  ``modelStreamErrorException`` frame) and the stream ends.
* ``response-failed`` (Responses API only; other endpoints answer 400): a response with status ``failed``
  and an ``error``; streams send ``response.failed`` after half the events.
"""

from ._core import (
    DEFAULT_CHUNKS,
    DEFAULT_WORDS,
    PER_MESSAGE_TOKENS,
    MockResponse,
    build_response,
    count_words,
    default_output_text,
    parse_fault,
    schema_example,
    split_pieces,
)
from ._server import MockProvider
from ._transport import async_mock_transport, mock_transport

__all__ = [
    "DEFAULT_CHUNKS",
    "DEFAULT_WORDS",
    "PER_MESSAGE_TOKENS",
    "MockProvider",
    "MockResponse",
    "async_mock_transport",
    "build_response",
    "count_words",
    "default_output_text",
    "mock_transport",
    "parse_fault",
    "schema_example",
    "split_pieces",
]
