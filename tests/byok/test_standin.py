"""The LLM stand-in (byok/standin.py), driven by the real `openai` SDK over real HTTP on 127.0.0.1.

These tests also pin what the SDK does with each fault, which the gateway maps to `LlmError.code`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from byok.standin import DEFAULT_MODELS, StandIn
from tests.factories import default_ctrl_c

HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to Qodex"}]


def client_for(server: StandIn, *, api_key: str = "sk-test", **options) -> openai.OpenAI:
    options.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.url, api_key=api_key, **options)


def ask(server: StandIn, model: str = "standin-mini", **options):
    return client_for(server).chat.completions.create(model=model, messages=HELLO, **options)


# Answers


def test_a_completion_replies_to_the_last_user_message_with_counted_usage(llm_standin):
    completion = ask(llm_standin)

    assert completion.choices[0].message.content == "Stand-in reply to: Say hello to Qodex"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "standin-mini"
    characters = len("Be brief.") + len("Say hello to Qodex")
    reply = "Stand-in reply to: Say hello to Qodex"
    assert completion.usage.prompt_tokens == characters // 4
    assert completion.usage.completion_tokens == len(reply) // 4
    assert completion.usage.total_tokens == characters // 4 + len(reply) // 4
    assert completion.usage.prompt_tokens_details.cached_tokens == 0


def test_the_reply_quotes_at_most_200_characters_and_counts_at_least_one_token(llm_standin):
    client = client_for(llm_standin)
    long = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x" * 500}])
    short = client.chat.completions.create(model="m", messages=[{"role": "user", "content": ""}])

    assert long.choices[0].message.content == "Stand-in reply to: " + "x" * 200
    assert short.usage.prompt_tokens == 1


def test_content_parts_count_as_their_text(llm_standin):
    parts = [{"type": "text", "text": "first "}, {"type": "text", "text": "second"}]
    completion = client_for(llm_standin).chat.completions.create(
        model="m", messages=[{"role": "user", "content": parts}]
    )

    assert completion.choices[0].message.content == "Stand-in reply to: first second"
    assert completion.usage.prompt_tokens == len("first second") // 4


def test_behave_sets_the_reply_and_every_usage_number(llm_standin):
    llm_standin.behave(reply="Fixed.", prompt_tokens=1000, completion_tokens=200, cached_tokens=600)
    completion = ask(llm_standin)

    assert completion.choices[0].message.content == "Fixed."
    assert completion.usage.prompt_tokens == 1000
    assert completion.usage.completion_tokens == 200
    assert completion.usage.total_tokens == 1200
    assert completion.usage.prompt_tokens_details.cached_tokens == 600


def test_a_total_above_prompt_plus_completion_imitates_uncounted_reasoning_tokens(llm_standin):
    llm_standin.behave(prompt_tokens=10, completion_tokens=5, total_tokens=40)

    usage = ask(llm_standin).usage

    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (10, 5, 40)


def test_no_usage_leaves_usage_out(llm_standin):
    llm_standin.behave(no_usage=True)

    assert ask(llm_standin).usage is None


# Streaming


def test_a_stream_with_include_usage_gives_the_text_in_pieces_then_a_usage_chunk(llm_standin):
    chunks = list(ask(llm_standin, stream=True, stream_options={"include_usage": True}))

    text_chunks = [chunk for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]
    assert len(text_chunks) > 1
    assert "".join(chunk.choices[0].delta.content for chunk in text_chunks) == (
        "Stand-in reply to: Say hello to Qodex"
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == len("Stand-in reply to: Say hello to Qodex") // 4
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert llm_standin.requests[-1].body["stream_options"] == {"include_usage": True}


def test_a_stream_without_include_usage_sends_no_usage_chunk(llm_standin):
    chunks = list(ask(llm_standin, stream=True))

    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks)


def test_a_stream_obeys_the_usage_switches(llm_standin):
    llm_standin.behave(reply="abc", prompt_tokens=7, completion_tokens=3, cached_tokens=2)

    chunks = list(ask(llm_standin, stream=True, stream_options={"include_usage": True}))

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "abc"
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details.cached_tokens) == (
        7,
        3,
        2,
    )


def test_chunk_delay_spaces_the_streamed_chunks(llm_standin):
    llm_standin.behave(chunk_delay=0.05)
    arrivals = []
    started = time.monotonic()

    for _chunk in ask(llm_standin, stream=True):
        arrivals.append(time.monotonic() - started)

    assert arrivals[-1] - arrivals[0] >= 0.05 * (len(arrivals) - 1) * 0.9


# Models


def test_models_list_names_the_default_models(llm_standin):
    models = list(client_for(llm_standin).models.list())

    assert [model.id for model in models] == list(DEFAULT_MODELS)
    assert {model.owned_by for model in models} == {"standin"}


def test_models_list_names_the_models_it_was_given():
    with StandIn(models=["gpt-4o", "o3-mini"]) as server:
        client = client_for(server)

        assert [model.id for model in client.models.list()] == ["gpt-4o", "o3-mini"]
        assert client.models.retrieve("o3-mini").id == "o3-mini"
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("gpt-5")


# Authentication


def test_a_rejected_key_raises_authentication_error_without_quoting_the_whole_key():
    with StandIn(rejected_keys=["sk-revoked-0123456789"]) as server:
        with pytest.raises(openai.AuthenticationError) as raised:
            client_for(server, api_key="sk-revoked-0123456789").models.list()

        assert raised.value.status_code == 401
        assert raised.value.code == "invalid_api_key"
        assert raised.value.type == "invalid_request_error"
        assert "sk-revoked-0123456789" not in str(raised.value)
        assert "6789" in str(raised.value)  # OpenAI quotes the key masked, its end visible
        assert client_for(server, api_key="sk-good").models.list().data


def test_a_request_without_a_bearer_key_gets_401_in_openais_error_shape(llm_standin):
    request = urllib.request.Request(f"{llm_standin.url}/models")

    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)

    assert raised.value.code == 401
    error = json.loads(raised.value.read())["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_api_key")
    assert error["message"]


def test_status_401_refuses_any_key(llm_standin):
    llm_standin.behave(status=401)

    with pytest.raises(openai.AuthenticationError):
        ask(llm_standin)


# Faults


def test_status_429_raises_rate_limit_error_with_retry_after(llm_standin):
    llm_standin.behave(status=429)

    with pytest.raises(openai.RateLimitError) as raised:
        ask(llm_standin)

    assert raised.value.code == "rate_limit_exceeded"
    assert raised.value.response.headers["retry-after"] == "1"
    assert raised.value.response.headers["retry-after-ms"] == "1000"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_raise_internal_server_error(llm_standin, status):
    llm_standin.behave(status=status)

    with pytest.raises(openai.InternalServerError) as raised:
        ask(llm_standin)

    assert raised.value.status_code == status
    assert raised.value.type == "server_error"


def test_a_fault_hits_streamed_calls_before_any_chunk(llm_standin):
    llm_standin.behave(status=429)

    with pytest.raises(openai.RateLimitError):
        ask(llm_standin, stream=True, stream_options={"include_usage": True})


def test_hang_longer_than_the_client_timeout_raises_api_timeout_error(llm_standin):
    llm_standin.behave(hang=10)
    started = time.monotonic()

    with pytest.raises(openai.APITimeoutError):
        client_for(llm_standin, timeout=0.3).chat.completions.create(model="m", messages=HELLO)

    assert time.monotonic() - started < 2


def test_latency_delays_the_answer(llm_standin):
    llm_standin.behave(latency=0.3)
    started = time.monotonic()

    assert ask(llm_standin).choices[0].message.content
    assert time.monotonic() - started >= 0.3


def test_a_stopped_server_raises_api_connection_error_even_on_a_kept_alive_connection():
    server = StandIn().start()
    client = client_for(server)
    client.models.list()  # the SDK keeps this connection open for the next call

    server.stop()

    with pytest.raises(openai.APIConnectionError):
        client.models.list()


def test_stop_does_not_wait_for_a_hanging_request():
    server = StandIn().start()
    server.behave(hang=30)
    raised = []

    def call() -> None:
        try:
            ask(server)
        except openai.APIError as error:
            raised.append(error)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    while not server.requests:
        time.sleep(0.01)

    started = time.monotonic()
    server.stop()
    caller.join(timeout=5)

    assert time.monotonic() - started < 2
    assert [type(error) for error in raised] == [openai.APIConnectionError]  # dropped, never answered


# Malformed answers: what the SDK does with each (the gateway maps these to provider_error)


def test_malformed_not_json_makes_the_sdk_raise_a_json_decode_error(llm_standin):
    llm_standin.behave(malformed="not_json")

    with pytest.raises(json.JSONDecodeError):  # a ValueError, not an openai.APIError
        ask(llm_standin)
    with pytest.raises(json.JSONDecodeError):  # after the first chunk
        list(ask(llm_standin, stream=True))


def test_malformed_html_makes_the_sdk_return_the_page_as_a_string(llm_standin):
    llm_standin.behave(malformed="html")

    answer = ask(llm_standin)

    assert isinstance(answer, str)  # not a ChatCompletion: the SDK does not raise
    assert "502 Bad Gateway" in answer
    assert list(ask(llm_standin, stream=True)) == []  # a stream of nothing
    with pytest.raises(AttributeError):  # the model list fails inside the SDK
        client_for(llm_standin).models.list()


def test_malformed_no_choices_makes_the_sdk_return_a_completion_whose_choices_are_none(llm_standin):
    llm_standin.behave(malformed="no_choices")

    completion = ask(llm_standin)
    chunks = list(ask(llm_standin, stream=True, stream_options={"include_usage": True}))

    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert completion.choices is None
    assert completion.usage.total_tokens > 0
    assert chunks
    assert all(chunk.choices is None for chunk in chunks)
    assert list(client_for(llm_standin).models.list()) == []  # the list without `data` is empty


# Faults in the middle of a stream (the gateway maps these to provider_error or provider_timeout)


def streamed_text(stream, received: list[str]) -> None:
    for chunk in stream:
        received += [choice.delta.content or "" for choice in chunk.choices or []]


def test_stream_fault_cut_drops_the_line_after_some_text(llm_standin):
    llm_standin.behave(stream_fault="cut")
    received: list[str] = []

    with pytest.raises(openai.APIConnectionError):  # the SDK wraps httpx's incomplete chunked read
        streamed_text(ask(llm_standin, stream=True, stream_options={"include_usage": True}), received)

    text = "".join(received)
    assert text and "Stand-in reply to: Say hello to Qodex".startswith(text)
    assert len(text) < len("Stand-in reply to: Say hello to Qodex")


def test_stream_fault_error_sends_openais_error_event_after_some_text(llm_standin):
    received: list[str] = []

    with pytest.raises(openai.APIError) as raised:
        streamed_text(ask(llm_standin, model="m?stream_fault=error&fault_after=1", stream=True), received)

    assert type(raised.value) is openai.APIError  # neither a status error nor a connection error
    assert "error while processing your request" in raised.value.message
    (piece,) = [piece for piece in received if piece]  # after the role chunk, one piece of text
    assert piece.startswith("Stand-in")


def test_stream_fault_after_zero_pieces_breaks_before_any_text(llm_standin):
    received: list[str] = []

    with pytest.raises(openai.APIConnectionError):
        streamed_text(ask(llm_standin, model="m?stream_fault=cut&fault_after=0", stream=True), received)

    assert "".join(received) == ""


def test_stream_fault_cut_cuts_a_whole_answer_short_too(llm_standin):
    with pytest.raises(openai.APIConnectionError):
        ask(llm_standin, model="m?stream_fault=cut")
    assert ask(llm_standin, model="m?stream_fault=error").choices  # an error event needs a stream


def test_stream_fault_stall_holds_the_line_until_the_clients_read_timeout(llm_standin):
    received: list[str] = []
    client = client_for(llm_standin, timeout=0.3)
    started = time.monotonic()

    with pytest.raises(openai.APITimeoutError):
        stream = client.chat.completions.create(
            model="m?stream_fault=stall&fault_after=1", messages=HELLO, stream=True
        )
        streamed_text(stream, received)

    assert time.monotonic() - started < 2
    assert len([piece for piece in received if piece]) == 1


def test_fail_times_limits_stream_fault_too(llm_standin):
    llm_standin.behave(stream_fault="cut", fail_times=1)

    with pytest.raises(openai.APIConnectionError):
        list(ask(llm_standin, stream=True))
    assert list(ask(llm_standin, stream=True))


# fail_times and retries


def test_fail_times_fails_the_next_requests_then_succeeds_under_the_sdks_own_retries(llm_standin):
    llm_standin.behave(status=429, retry_after=0.01, fail_times=2)
    client = client_for(llm_standin, max_retries=2)

    completion = client.chat.completions.create(model="m", messages=HELLO)

    assert completion.choices[0].message.content == "Stand-in reply to: Say hello to Qodex"
    assert len(llm_standin.requests) == 3


def test_fail_times_without_retries_raises_then_the_next_call_succeeds(llm_standin):
    llm_standin.behave(fail_times=1)  # status 500 when no fault is named

    with pytest.raises(openai.InternalServerError):
        ask(llm_standin)
    assert ask(llm_standin).choices[0].message.content


def test_fail_times_limits_hang_too(llm_standin):
    llm_standin.behave(hang=10, fail_times=1)
    client = client_for(llm_standin, timeout=0.3)

    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="m", messages=HELLO)
    assert client.chat.completions.create(model="m", messages=HELLO).choices


# Switches per request, through the model name


def test_switches_in_the_model_name_apply_to_that_request_only(llm_standin):
    with pytest.raises(openai.RateLimitError):
        ask(llm_standin, model="gpt-4o-mini?status=429&retry_after=0.01")

    completion = ask(llm_standin, model="gpt-4o-mini?reply=Hi%20there&completion_tokens=9")

    assert completion.model == "gpt-4o-mini"  # echoed without its switches
    assert completion.choices[0].message.content == "Hi there"
    assert completion.usage.completion_tokens == 9
    assert ask(llm_standin, model="gpt-4o-mini").choices[0].message.content.startswith("Stand-in reply")


def test_model_name_switches_add_to_the_servers_and_win_over_them(llm_standin):
    llm_standin.behave(reply="From the server.", completion_tokens=5)

    completion = ask(llm_standin, model="m?completion_tokens=9")

    assert completion.choices[0].message.content == "From the server."
    assert completion.usage.completion_tokens == 9


def test_a_model_name_fail_times_counts_per_model_string(llm_standin):
    with pytest.raises(openai.InternalServerError):
        ask(llm_standin, model="m?fail_times=1&tag=a")
    with pytest.raises(openai.InternalServerError):
        ask(llm_standin, model="m?fail_times=1&tag=b")

    assert ask(llm_standin, model="m?fail_times=1&tag=a").choices
    assert ask(llm_standin, model="m?fail_times=1&tag=b").choices


def test_concurrent_callers_get_their_own_model_name_switches(llm_standin):
    def call(number: int) -> str:
        model = "m?status=500" if number % 2 else f"m?reply=caller-{number}"
        try:
            return ask(llm_standin, model=model).choices[0].message.content
        except openai.InternalServerError:
            return "failed"

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(pool.map(call, range(20)))

    assert answers == ["failed" if n % 2 else f"caller-{n}" for n in range(20)]
    assert len(llm_standin.requests) == 20


def test_an_unknown_switch_in_the_model_name_is_a_400_naming_it(llm_standin):
    with pytest.raises(openai.BadRequestError) as raised:
        ask(llm_standin, model="m?stauts=429")

    assert "stauts" in str(raised.value)


def test_a_bad_switch_value_in_the_model_name_is_a_400_naming_it(llm_standin):
    with pytest.raises(openai.BadRequestError) as raised:
        ask(llm_standin, model="m?status=200")

    assert "status" in str(raised.value)


# Bad requests


def test_a_chat_completion_without_messages_is_a_400(llm_standin):
    with pytest.raises(openai.BadRequestError) as raised:
        client_for(llm_standin).chat.completions.create(model="m", messages=[])

    assert raised.value.type == "invalid_request_error"


def test_an_unknown_endpoint_is_a_404(llm_standin):
    with pytest.raises(openai.NotFoundError):
        client_for(llm_standin).embeddings.create(model="m", input="hi")


# Server-wide switches: behave() and reset()


def test_behave_replaces_the_previous_switches(llm_standin):
    llm_standin.behave(status=500)
    llm_standin.behave(reply="Second.")

    assert ask(llm_standin).choices[0].message.content == "Second."


@pytest.mark.parametrize(
    "switches",
    [
        {"status": 200},
        {"malformed": "garbage"},
        {"latency": -1},
        {"fail_times": 1.5},
        {"prompt_tokens": -3},
        {"stream_fault": "slow"},
    ],
)
def test_behave_refuses_a_bad_value_and_keeps_the_previous_switches(llm_standin, switches):
    llm_standin.behave(reply="Kept.")

    with pytest.raises(ValueError, match=next(iter(switches))):
        llm_standin.behave(**switches)

    assert ask(llm_standin).choices[0].message.content == "Kept."


def test_reset_restores_normal_answers_and_forgets_the_requests(llm_standin):
    llm_standin.behave(status=503)
    with pytest.raises(openai.InternalServerError):
        ask(llm_standin)

    llm_standin.reset()

    assert llm_standin.requests == []
    assert ask(llm_standin).choices[0].message.content.startswith("Stand-in reply to:")


# What it records, where it listens, what it prints


def test_requests_record_the_bearer_key_headers_and_body(llm_standin):
    client_for(llm_standin, api_key="sk-project-key").chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, temperature=0.2, max_tokens=50
    )

    request = llm_standin.requests[-1]
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.api_key == "sk-project-key"
    assert request.headers["authorization"] == "Bearer sk-project-key"
    assert request.body == {"model": "gpt-4o-mini", "messages": HELLO, "temperature": 0.2, "max_tokens": 50}


def test_refused_requests_are_recorded_too():
    with StandIn(rejected_keys=["sk-bad"]) as server:
        with pytest.raises(openai.AuthenticationError):
            client_for(server, api_key="sk-bad").models.list()

        assert [(r.method, r.path, r.api_key) for r in server.requests] == [("GET", "/v1/models", "sk-bad")]


def test_it_listens_on_loopback_only(llm_standin):
    assert llm_standin.url == f"http://127.0.0.1:{llm_standin.port}/v1"
    assert llm_standin._server.server_address[0] == "127.0.0.1"


def test_the_url_needs_a_started_server():
    with pytest.raises(RuntimeError, match="Start"):
        StandIn().url  # noqa: B018


def test_it_prints_nothing_while_serving(capfd):
    with StandIn(rejected_keys=["sk-bad"]) as server:
        list(ask(server, stream=True))
        with pytest.raises(openai.AuthenticationError):
            client_for(server, api_key="sk-bad").models.list()
        server.behave(hang=5)
        with pytest.raises(openai.APITimeoutError):  # the client hangs up on the server
            client_for(server, timeout=0.2).models.list()

    assert capfd.readouterr() == ("", "")


# The management command


def test_the_management_command_serves_until_interrupted_and_prints_its_url():
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "manage.py", "llm_standin", "--port", "0"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
        preexec_fn=default_ctrl_c,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("LLM stand-in serving at http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[4]
        models = openai.OpenAI(base_url=url, api_key="sk-demo", max_retries=0).models.list()
        assert "standin-mini" in [model.id for model in models]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert process.returncode == 0
    assert process.stderr.read() == ""


def test_the_management_command_names_a_port_it_cannot_use(llm_standin):
    result = subprocess.run(
        [sys.executable, "manage.py", "llm_standin", "--port", str(llm_standin.port)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{llm_standin.port}" in result.stderr
