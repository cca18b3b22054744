"""What an agent may send: the OpenAI request bodies as strict pydantic models.

Derived from the OpenAI API reference for `POST /v1/chat/completions` and
`POST /v1/completions`, plus the sampling extras vLLM documents. Types are
strict (no `"1"` for 1, no `true` for 1) and ranges are OpenAI's (vLLM's where
it is the stricter or the only one). Unknown top-level fields pass through to
the upstream and the log (vLLM's other extras, a test server's knobs); unknown
keys inside a message or a content part pass too (vLLM hands them to the chat
template). Everything else that is not described here is refused. The depth
and size of whatever passes are bounded separately (`intake`).

The models only check: the proxy forwards and records the parsed JSON itself,
so a value is stored exactly as the agent sent it.
"""
from __future__ import annotations

import typing
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

__all__ = ["ChatRequest", "CompletionRequest", "is_tag", "MAX_TOKENS", "MAX_N", "MAX_TOP_LOGPROBS"]

MAX_TOKENS = 2 ** 24
"""Largest `max_tokens` accepted (no model generates more in one call)."""
MAX_N = 128
"""Most choices per request (OpenAI's limit)."""
MAX_TOP_LOGPROBS = 20
"""Most alternatives per token (OpenAI's and vLLM's default limit)."""
_I64 = 2 ** 63


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class _Open(BaseModel):
    """Known keys are checked; unknown ones pass (messages and content parts)."""

    model_config = ConfigDict(strict=True, extra="allow")


def _one_of(field: str, *models: type[BaseModel]) -> Any:
    """A union of models told apart by `field` (a Literal in each), tagged `field=value`.

    Anything else (not an object, the field missing or unknown) is one error of
    type `tag:<field>`, which `intake` words with the allowed values.
    """
    values = [typing.get_args(m.model_fields[field].annotation)[0] for m in models]
    known = frozenset(values)

    def tag(value: Any) -> str | None:
        got = value.get(field) if isinstance(value, dict) else None
        return f"{field}={got}" if isinstance(got, str) and got in known else None

    members = [Annotated[m, Tag(f"{field}={v}")] for m, v in zip(models, values)]
    return Annotated[Union[tuple(members)], Discriminator(  # type: ignore[valid-type]
        tag, custom_error_type=f"tag:{field}", custom_error_message=", ".join(map(repr, values)))]


def _kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "as string"
    if isinstance(value, list):
        return "as array"
    return None


def _text_or(items: Any, what: str) -> Any:
    """`str | list[items]`, told apart by the JSON type (one clear error when it is neither)."""
    return Annotated[Union[Annotated[str, Tag("as string")], Annotated[list[items], Tag("as array")]],
                     Discriminator(_kind, custom_error_type="text_or_parts",
                                   custom_error_message=f"expected string or array of {what}")]


# -- content parts -------------------------------------------------------------------
class _ImageUrl(_Strict):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class _Url(_Strict):
    url: str


class _InputAudio(_Strict):
    data: str
    format: Literal["wav", "mp3"]


class _File(_Strict):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class TextPart(_Open):
    type: Literal["text"]
    text: str


class RefusalPart(_Open):
    type: Literal["refusal"]
    refusal: str


class ImagePart(_Open):
    type: Literal["image_url"]
    image_url: _ImageUrl


class AudioPart(_Open):
    type: Literal["input_audio"]
    input_audio: _InputAudio


class FilePart(_Open):
    type: Literal["file"]
    file: _File


class AudioUrlPart(_Open):
    type: Literal["audio_url"]
    audio_url: _Url


class VideoUrlPart(_Open):
    type: Literal["video_url"]
    video_url: _Url


_UserPart = _one_of("type", TextPart, ImagePart, AudioPart, FilePart, AudioUrlPart, VideoUrlPart)
_AssistantPart = _one_of("type", TextPart, RefusalPart)
_TextContent = _text_or(_one_of("type", TextPart), "text parts")


# -- tools ---------------------------------------------------------------------------
_Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class FunctionDef(_Strict):
    name: _Name
    description: str | None = None
    parameters: dict[str, Any] | None = None
    """A JSON Schema object."""
    strict: bool | None = None


class Tool(_Strict):
    type: Literal["function"]
    function: FunctionDef


class FunctionCall(_Strict):
    name: str
    arguments: str
    """The arguments as a JSON text, as the model wrote them."""


class ToolCall(_Strict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class _Named(_Strict):
    name: str


class NamedToolChoice(_Strict):
    type: Literal["function"]
    function: _Named


def _mode_or_object(value: Any) -> str | None:
    if isinstance(value, str):
        return "as string"
    if isinstance(value, dict):
        return "as object"
    return None


def _mode_or(obj: Any, modes: Any) -> Any:
    return Annotated[Union[Annotated[modes, Tag("as string")], Annotated[obj, Tag("as object")]],
                     Discriminator(_mode_or_object, custom_error_type="mode_or_object",
                                   custom_error_message="expected string or object")]


# -- messages ------------------------------------------------------------------------
class SystemMessage(_Open):
    role: Literal["system"]
    content: _TextContent
    name: str | None = None


class DeveloperMessage(_Open):
    role: Literal["developer"]
    content: _TextContent
    name: str | None = None


class UserMessage(_Open):
    role: Literal["user"]
    content: _text_or(_UserPart, "content parts")
    name: str | None = None


class _AudioRef(_Strict):
    id: str


class AssistantMessage(_Open):
    role: Literal["assistant"]
    content: _text_or(_AssistantPart, "text or refusal parts") | None = None
    refusal: str | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    function_call: FunctionCall | None = None
    audio: _AudioRef | None = None


class ToolMessage(_Open):
    role: Literal["tool"]
    content: _TextContent
    tool_call_id: str


class FunctionMessage(_Open):
    role: Literal["function"]
    content: str | None
    name: str


Message = _one_of("role", SystemMessage, DeveloperMessage, UserMessage, AssistantMessage, ToolMessage,
                  FunctionMessage)


# -- other request objects -----------------------------------------------------------
class StreamOptions(_Strict):
    include_usage: bool | None = None
    continuous_usage_stats: bool | None = None
    """vLLM: usage in every chunk."""
    include_obfuscation: bool | None = None


class _JsonSchema(_Strict):
    name: _Name
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class TextFormat(_Strict):
    type: Literal["text"]


class JsonObjectFormat(_Strict):
    type: Literal["json_object"]


class JsonSchemaFormat(_Strict):
    type: Literal["json_schema"]
    json_schema: _JsonSchema


class StructuralTagFormat(_Open):
    """vLLM's structural tags (its own shape, passed on)."""

    type: Literal["structural_tag"]


ResponseFormat = _one_of("type", TextFormat, JsonObjectFormat, JsonSchemaFormat, StructuralTagFormat)

_Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]
_MaxTokens = Annotated[int, Field(ge=1, le=MAX_TOKENS)]
_Stop = _text_or(str, "strings")
_Metadata = Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]],
                      Field(max_length=16)]
_TokenBias = dict[Annotated[str, Field(pattern=r"^[0-9]{1,10}$")], Annotated[float, Field(ge=-100.0, le=100.0)]]


class _Sampling(BaseModel):
    """Fields both endpoints share; unknown top-level fields pass through."""

    model_config = ConfigDict(strict=True, extra="allow")

    model: Annotated[str, Field(min_length=1, max_length=256)]
    frequency_penalty: _Penalty | None = None
    presence_penalty: _Penalty | None = None
    logit_bias: _TokenBias | None = None
    max_tokens: _MaxTokens | None = None
    n: Annotated[int, Field(ge=1, le=MAX_N)] | None = None
    seed: Annotated[int, Field(ge=-_I64, lt=_I64)] | None = None
    stop: _Stop | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    user: Annotated[str, Field(max_length=512)] | None = None
    # vLLM's sampling extras
    top_k: Annotated[int, Field(ge=-1)] | None = None
    min_p: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    repetition_penalty: Annotated[float, Field(gt=0.0, le=10.0)] | None = None
    min_tokens: Annotated[int, Field(ge=0, le=MAX_TOKENS)] | None = None
    stop_token_ids: list[Annotated[int, Field(ge=0, lt=2 ** 32)]] | None = None
    ignore_eos: bool | None = None
    include_stop_str_in_output: bool | None = None
    skip_special_tokens: bool | None = None
    return_token_ids: bool | None = None
    return_tokens_as_token_ids: bool | None = None

    @model_validator(mode="after")
    def _stream_options_need_stream(self) -> "_Sampling":
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options: only allowed when stream is true")
        return self


class ChatRequest(_Sampling):
    """`POST /v1/chat/completions`."""

    messages: Annotated[list[Message], Field(min_length=1)]
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS)] | None = None
    max_completion_tokens: _MaxTokens | None = None
    tools: Annotated[list[Tool], Field(max_length=128)] | None = None
    tool_choice: _mode_or(NamedToolChoice, Literal["none", "auto", "required"]) | None = None
    parallel_tool_calls: bool | None = None
    functions: Annotated[list[FunctionDef], Field(max_length=128)] | None = None
    function_call: _mode_or(_Named, Literal["none", "auto"]) | None = None
    response_format: ResponseFormat | None = None
    metadata: _Metadata | None = None
    store: bool | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    modalities: list[Literal["text", "audio"]] | None = None
    prompt_cache_key: str | None = None
    safety_identifier: str | None = None

    @model_validator(mode="after")
    def _top_logprobs_need_logprobs(self) -> "ChatRequest":
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs: requires logprobs to be true")
        return self


class CompletionRequest(_Sampling):
    """`POST /v1/completions` (one prompt per request, as text)."""

    prompt: _text_or(str, "strings")
    logprobs: Annotated[int, Field(ge=0, le=MAX_TOP_LOGPROBS)] | None = None
    echo: bool | None = None
    suffix: str | None = None
    best_of: Annotated[int, Field(ge=1, le=MAX_N)] | None = None

    @model_validator(mode="after")
    def _one_prompt(self) -> "CompletionRequest":
        if isinstance(self.prompt, list) and len(self.prompt) != 1:
            raise ValueError("prompt: batched prompts are not supported; send one string (or a list "
                             "holding one string)")
        return self


def is_tag(loc_part: Any) -> bool:
    """Whether a part of a pydantic error location is one of this module's union tags."""
    return isinstance(loc_part, str) and (loc_part.startswith(("role=", "type=")) or loc_part in _KINDS)


_KINDS = frozenset({"as string", "as array", "as object"})
